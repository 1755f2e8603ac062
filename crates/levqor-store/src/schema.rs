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
