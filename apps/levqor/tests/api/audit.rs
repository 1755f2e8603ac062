//! The audit trail over HTTP: every audited change leaves exactly one entry with
//! the acting key, the object and the request id; entries hold no secrets; users
//! see only their own; listings filter and page.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, Reply, TestApp};

const TOKEN: &str = "xoxb-audit-http-secret-token";

/// A request with a chosen `X-Request-Id`.
async fn call(app: &TestApp, method: Method, path: &str, key: &str, body: Option<Value>, request_id: &str) -> Reply {
    let mut req = app.client.request(method, app.url(path)).header("X-Api-Key", key).header("X-Request-Id", request_id);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let reply = app.send(req).await;
    assert_eq!(reply.header("x-request-id"), Some(request_id));
    reply
}

/// Every entry the admin route lists for `query`, following the cursor.
async fn entries(app: &TestApp, key: &str, path: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}?limit=200{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&url, Some(key)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        out.extend(r.body["entries"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The one entry for `action` on `object_id`.
async fn the_entry(app: &TestApp, action: &str, object_id: &str) -> Value {
    let found = entries(app, ADMIN_KEY, "/api/v1/audit", &format!("&action={action}&object_id={object_id}")).await;
    assert_eq!(found.len(), 1, "{action} on {object_id}: {found:?}");
    found.into_iter().next().unwrap()
}

fn assert_actor(entry: &Value, scope: &str, key_id: Option<&str>, user_id: Option<&str>) {
    assert_eq!(entry["actor_scope"], scope, "{entry}");
    assert_eq!(entry["actor_key_id"].as_str(), key_id, "{entry}");
    assert_eq!(entry["actor_user_id"].as_str(), user_id, "{entry}");
}

async fn each_audited_action_leaves_one_entry(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let upsert = |rid: &'static str| {
        call(&app, Method::POST, "/api/v1/users/upsert", ADMIN_KEY, Some(json!({"email": "ada@example.com"})), rid)
    };
    let r = upsert("req-user-create").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let ada = r.body["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(upsert("req-user-upsert").await.status, 200);

    let keys = format!("/api/v1/users/{ada}/keys");
    let r = call(&app, Method::POST, &keys, ADMIN_KEY, Some(json!({})), "req-key-admin").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (key_id, key) = (r.body["id"].as_str().unwrap().to_owned(), r.body["key"].as_str().unwrap().to_owned());

    let r = call(&app, Method::PATCH, &format!("/api/v1/users/{ada}"), &key, Some(json!({"name": "Ada"})), "req-patch")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = call(&app, Method::POST, &keys, &key, Some(json!({"label": "ci"})), "req-key-user").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (second_id, second) = (r.body["id"].as_str().unwrap().to_owned(), r.body["key"].as_str().unwrap().to_owned());
    let r = call(&app, Method::DELETE, &format!("{keys}/{second_id}"), &key, None, "req-revoke").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A second revocation answers the same and changes nothing: no second entry.
    let r = call(&app, Method::DELETE, &format!("{keys}/{second_id}"), &key, None, "req-revoke-again").await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let grant = json!({"user_id": ada, "credits": 25, "reason": "goodwill"});
    let r = call(&app, Method::POST, "/api/v1/credits/add", ADMIN_KEY, Some(grant), "req-credits").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let ledger_entry = r.body["entry"]["id"].as_str().unwrap().to_owned();
    // Refused changes leave nothing.
    let overdraw = json!({"user_id": ada, "credits": -10_000, "reason": "too much"});
    let r = call(&app, Method::POST, "/api/v1/credits/add", ADMIN_KEY, Some(overdraw), "req-refused").await;
    r.assert_error(402, "insufficient_credits");

    let conn = json!({"connector": "slack", "name": "work", "credentials": {"token": TOKEN}});
    let r = call(&app, Method::POST, "/api/v1/connections", &key, Some(conn), "req-conn").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let connection = r.body["id"].as_str().unwrap().to_owned();
    let r = call(&app, Method::DELETE, &format!("/api/v1/connections/{connection}"), &key, None, "req-conn-del").await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let doc = json!({"description": "notify", "trigger": "manual", "actions": [
        {"type": "sendSlack", "connector": "slack", "params": {"channel": "#general", "message": "hi"}}]});
    let r = app.post("/api/v1/pipelines", Some(&key), &doc).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let pipeline = r.body["id"].as_str().unwrap().to_owned();
    let r = call(&app, Method::DELETE, &format!("/api/v1/pipelines/{pipeline}"), &key, None, "req-pipe-del").await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let all = entries(&app, ADMIN_KEY, "/api/v1/audit", "").await;
    let actions: Vec<&str> = all.iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "user.create",
            "user.update",
            "key.create",
            "user.update",
            "key.create",
            "key.revoke",
            "credits.grant",
            "connection.create",
            "connection.delete",
            "pipeline.delete"
        ],
        "one entry per change, none for refusals or no-ops"
    );
    assert!(all.iter().all(|e| e["subject_user_id"] == ada.as_str()), "every change here concerns ada");

    let created = &all[all.len() - 1];
    assert_eq!((created["object_type"].as_str(), created["object_id"].as_str()), (Some("user"), Some(ada.as_str())));
    assert_eq!(created["request_id"], "req-user-create");
    assert_actor(created, "admin", None, None);

    let e = the_entry(&app, "key.create", &key_id).await;
    assert_eq!((e["object_type"].as_str(), e["request_id"].as_str()), (Some("api_key"), Some("req-key-admin")));
    assert_actor(&e, "admin", None, None);
    let e = the_entry(&app, "key.create", &second_id).await;
    assert_eq!(e["request_id"], "req-key-user");
    assert_actor(&e, "user", Some(&key_id), Some(&ada));
    let e = the_entry(&app, "key.revoke", &second_id).await;
    assert_eq!(e["request_id"], "req-revoke");
    assert_actor(&e, "user", Some(&key_id), Some(&ada));
    let updates = entries(&app, ADMIN_KEY, "/api/v1/audit", "&action=user.update").await;
    let ids: Vec<&str> = updates.iter().map(|e| e["request_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["req-patch", "req-user-upsert"]);
    assert_actor(&updates[0], "user", Some(&key_id), Some(&ada));
    let e = the_entry(&app, "credits.grant", &ledger_entry).await;
    assert_eq!((e["object_type"].as_str(), e["request_id"].as_str()), (Some("ledger_entry"), Some("req-credits")));
    assert_actor(&e, "admin", None, None);
    let e = the_entry(&app, "connection.create", &connection).await;
    assert_eq!((e["object_type"].as_str(), e["request_id"].as_str()), (Some("connection"), Some("req-conn")));
    let e = the_entry(&app, "connection.delete", &connection).await;
    assert_eq!(e["request_id"], "req-conn-del");
    let e = the_entry(&app, "pipeline.delete", &pipeline).await;
    assert_eq!((e["object_type"].as_str(), e["request_id"].as_str()), (Some("pipeline"), Some("req-pipe-del")));
    assert_actor(&e, "user", Some(&key_id), Some(&ada));
    assert!(all.iter().all(|e| e["at"].is_string() && e["id"].is_string()));

    let text = serde_json::to_string(&all).unwrap();
    for secret in [key.as_str(), second.as_str(), ADMIN_KEY, TOKEN] {
        assert!(!text.contains(secret), "the audit trail shows a secret");
    }
    let mine = serde_json::to_string(&entries(&app, &key, "/api/v1/me/audit", "").await).unwrap();
    for secret in [key.as_str(), second.as_str(), ADMIN_KEY, TOKEN] {
        assert!(!mine.contains(secret), "the user's audit trail shows a secret");
    }
}

async fn users_see_only_their_own_entries(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (ada, ada_key) = app.new_user("ada@example.com").await;
    let (bob, bob_key) = app.new_user("bob@example.com").await;
    let r =
        app.with_body(Method::PATCH, &format!("/api/v1/users/{bob}"), Some(&bob_key), &json!({"name": "Bob"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app.post(&format!("/api/v1/users/{ada}/keys"), Some(&ada_key), &json!({})).await;
    assert_eq!(r.status, 201);

    // Ada's: her creation and first key (by the admin, about her) and her own key.
    let mine = entries(&app, &ada_key, "/api/v1/me/audit", "").await;
    let actions: Vec<&str> = mine.iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.create", "key.create", "key.create"]);
    assert!(
        mine.iter().all(|e| e["subject_user_id"] == ada.as_str() || e["actor_user_id"] == ada.as_str()),
        "{mine:?}"
    );
    let text = serde_json::to_string(&mine).unwrap();
    assert!(!text.contains(&bob), "ada sees an entry of bob's");
    let theirs = entries(&app, &bob_key, "/api/v1/me/audit", "").await;
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    assert!(!serde_json::to_string(&theirs).unwrap().contains(&ada));
    let filtered = entries(&app, &bob_key, "/api/v1/me/audit", "&action=user.update").await;
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["actor_user_id"], bob.as_str());

    app.get("/api/v1/audit", Some(&ada_key)).await.assert_error(403, "forbidden");
    app.get(&format!("/api/v1/audit?actor_user_id={ada}"), Some(&ada_key)).await.assert_error(403, "forbidden");
    app.get("/api/v1/me/audit", Some(ADMIN_KEY)).await.assert_error(403, "forbidden");
    app.get("/api/v1/audit", None).await.assert_error(401, "unauthorized");
    app.get("/api/v1/me/audit", None).await.assert_error(401, "unauthorized");
    // The admin filter is not a way around the scoping.
    app.get(&format!("/api/v1/me/audit?actor_user_id={bob}"), Some(&ada_key))
        .await
        .assert_error(400, "invalid_request");
}

async fn audit_pages_and_filters(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (ada, ada_key) = app.new_user("ada@example.com").await;
    let (bob, _) = app.new_user("bob@example.com").await;
    for i in 0..5 {
        let r =
            app.post(&format!("/api/v1/users/{ada}/keys"), Some(&ada_key), &json!({"label": format!("k{i}")})).await;
        assert_eq!(r.status, 201);
    }
    let all = entries(&app, ADMIN_KEY, "/api/v1/audit", "").await;
    assert_eq!(all.len(), 9, "two users, two admin keys, five of ada's keys");

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/audit?limit=2&cursor={c}"),
            None => "/api/v1/audit?limit=2".to_owned(),
        };
        let r = app.get(&url, Some(ADMIN_KEY)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let page = r.body["entries"].as_array().unwrap();
        assert!(page.len() <= 2);
        paged.extend(page.iter().cloned());
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(paged, all, "pages of two: in order, none twice, none missed");

    let by_ada = entries(&app, ADMIN_KEY, "/api/v1/audit", &format!("&actor_user_id={ada}")).await;
    assert_eq!(by_ada.len(), 5);
    assert!(by_ada.iter().all(|e| e["actor_user_id"] == ada.as_str() && e["action"] == "key.create"));
    let users = entries(&app, ADMIN_KEY, "/api/v1/audit", "&object_type=user").await;
    assert_eq!(users.len(), 2);
    let bob_created = entries(&app, ADMIN_KEY, "/api/v1/audit", &format!("&object_type=user&object_id={bob}")).await;
    assert_eq!(bob_created.len(), 1);
    assert_eq!(bob_created[0]["action"], "user.create");
    assert!(
        entries(&app, ADMIN_KEY, "/api/v1/audit", &format!("&object_type=api_key&object_id={bob}")).await.is_empty()
    );

    // A window by the entries' own times: `from` includes, `to` excludes.
    let oldest_first: Vec<&Value> = all.iter().rev().collect();
    let (from, to) = (oldest_first[2]["at"].as_str().unwrap(), oldest_first[6]["at"].as_str().unwrap());
    let enc = |t: &str| t.replace('+', "%2B").replace(':', "%3A");
    let window = entries(&app, ADMIN_KEY, "/api/v1/audit", &format!("&from={}&to={}", enc(from), enc(to))).await;
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    let expected: Vec<Value> = all
        .iter()
        .filter(|e| {
            let t = at(e["at"].as_str().unwrap());
            t >= at(from) && t < at(to)
        })
        .cloned()
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    assert_eq!(window, expected);

    for (query, field) in [
        ("action=key.delete", "action"),
        ("object_type=job", "object_type"),
        ("actor_user_id=nobody", "actor_user_id"),
        ("from=yesterday", "from"),
        ("cursor=nope", "cursor"),
    ] {
        let r = app.get(&format!("/api/v1/audit?{query}"), Some(ADMIN_KEY)).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(r.problem_field(), field, "{query}: {:?}", r.body);
    }
    let r = app.get(&format!("/api/v1/audit?from={}&to={}", enc(to), enc(from)), Some(ADMIN_KEY)).await;
    r.assert_error(400, "invalid_request");
}

crate::on_both_backends!(
    each_audited_action_leaves_one_entry,
    users_see_only_their_own_entries,
    audit_pages_and_filters
);
