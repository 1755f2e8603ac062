//! The Diesel schema, kept by hand and shared by both backends: text ids, integer
//! microsecond timestamps, JSON as text.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Nullable<Text>,
        locale -> Nullable<Text>,
        currency -> Nullable<Text>,
        meta -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        prefix -> Text,
        key_hash -> Text,
        scope -> Text,
        label -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, api_keys);

diesel::table! {
    jobs (id) {
        id -> Text,
        owner -> Text,
        workflow -> Text,
        payload -> Text,
        state -> Text,
        priority -> SmallInt,
        attempts -> Integer,
        max_attempts -> Integer,
        timeout_s -> Integer,
        run_at -> BigInt,
        callback_url -> Nullable<Text>,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        lease_token -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (caller, key) {
        caller -> Text,
        key -> Text,
        fingerprint -> Text,
        status -> Nullable<Integer>,
        body -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, jobs);

diesel::table! {
    credit_balances (user_id) {
        user_id -> Text,
        balance -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        amount -> BigInt,
        balance_after -> BigInt,
        reason -> Text,
        reference -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    ledger_once_keys (key) {
        key -> Text,
        entry_id -> Text,
    }
}

diesel::table! {
    credit_reservations (id) {
        id -> Text,
        user_id -> Text,
        amount -> BigInt,
        charged -> Nullable<BigInt>,
        reason -> Text,
        state -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        closed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    referral_codes (user_id) {
        user_id -> Text,
        code -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    referral_attributions (referred_user_id) {
        referred_user_id -> Text,
        referrer_user_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    referral_visits (id) {
        id -> Text,
        email_hash -> Text,
        source -> Text,
        campaign -> Nullable<Text>,
        medium -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    connections (id) {
        id -> Text,
        owner -> Text,
        connector -> Text,
        name -> Text,
        credential_fields -> Text,
        sealed -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    pipelines (id) {
        id -> Text,
        owner -> Text,
        current_version -> Integer,
        schedule -> Nullable<Text>,
        webhook_token_hash -> Nullable<Text>,
        deleted_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    pipeline_versions (pipeline_id, version) {
        pipeline_id -> Text,
        version -> Integer,
        document -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    pipeline_runs (job_id) {
        job_id -> Text,
        pipeline_id -> Text,
        version -> Integer,
        owner -> Text,
        input -> Text,
        state -> Text,
        reservation_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    schedule_ticks (pipeline_id, tick) {
        pipeline_id -> Text,
        tick -> BigInt,
        claimed_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(pipelines, pipeline_versions);

diesel::table! {
    worker_processes (id) {
        id -> Text,
        seen_at -> BigInt,
    }
}

diesel::table! {
    analytics_events (id) {
        id -> Text,
        event_type -> Text,
        visitor -> Text,
        email_hash -> Nullable<Text>,
        ref_code -> Nullable<Text>,
        props -> Text,
        hour -> BigInt,
        day -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> BigInt,
        actor_scope -> Text,
        actor_key_id -> Nullable<Text>,
        actor_user_id -> Nullable<Text>,
        action -> Text,
        object_type -> Text,
        object_id -> Text,
        subject_user_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    activity_log (id) {
        id -> Text,
        task -> Text,
        started_at -> BigInt,
        finished_at -> BigInt,
        outcome -> Text,
        detail -> Text,
    }
}

diesel::table! {
    task_claims (task, period) {
        task -> Text,
        period -> Text,
        claimed_at -> BigInt,
    }
}
