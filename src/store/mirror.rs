//! Sessions mirrored into secondary storage, in Better Auth's layout, so that get-session on any
//! node answers with one key-value read. The database stays the source of truth (Better Auth's
//! `storeSessionInDatabase`); this decorator sees every write of the adapter, so a session that
//! is revoked, expired or changed — or whose user changes — leaves secondary storage at once,
//! whichever code path wrote it. Inside a transaction, removals happen at the write and again at
//! commit, and additions only after commit, so a rolled-back session is never published.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::{Value as Json, json};

use super::layer::{Cx, Layer, Layered};
use super::record_json;
use super::secondary::SecondaryStorage;
use super::{Adapter, FindMany, Intent, Ops, Record, Schema, Store, StoreResult, Value, Where};

#[derive(Clone)]
pub struct Mirror {
    kv: Arc<dyn SecondaryStorage>,
    schema: Arc<Schema>,
}

fn logged(what: &str, r: StoreResult<()>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "secondary storage: {what} failed");
    }
}

fn active_key(user_id: &str) -> String {
    format!("active-sessions-{user_id}")
}

/// Seconds until the session expires (0 when it already has).
fn ttl_of(session: &Record) -> u64 {
    session.date("expiresAt").map_or(0, |e| u64::try_from((e - Utc::now()).num_seconds()).unwrap_or(0))
}

impl Mirror {
    pub fn new(kv: Arc<dyn SecondaryStorage>, schema: Arc<Schema>) -> Self {
        Self { kv, schema }
    }

    pub fn storage(&self) -> Arc<dyn SecondaryStorage> {
        self.kv.clone()
    }

    /// The pair stored under the session's token, as Better Auth stores it.
    pub async fn get(&self, token: &str) -> StoreResult<Option<(Record, Record)>> {
        let Some(text) = self.kv.get(token).await? else { return Ok(None) };
        let Ok(v) = serde_json::from_str::<Json>(&text) else { return Ok(None) };
        match (self.record_from_json("session", &v["session"]), self.record_from_json("user", &v["user"])) {
            (Some(s), Some(u)) => Ok(Some((s, u))),
            _ => Ok(None),
        }
    }

    /// Publishes a live session and adds it to its user's active list.
    pub async fn put(&self, session: &Record, user: &Record) -> StoreResult<()> {
        let ttl = ttl_of(session);
        let token = session.string("token");
        if ttl == 0 || token.is_empty() {
            return Ok(());
        }
        let pair = json!({ "session": record_json(session, &[]), "user": record_json(user, &[]) });
        self.kv.set(&token, &pair.to_string(), Some(ttl)).await?;
        let expires = session.date("expiresAt").map_or(0, |e| e.timestamp_millis());
        self.edit_active(&session.string("userId"), |list| {
            list.retain(|e| e["token"] != token.as_str());
            list.push(json!({ "token": token, "expiresAt": expires }));
        })
        .await
    }

    /// Removes one session (see [`Mirror::forget`]).
    pub async fn withdraw(&self, session: &Record) -> StoreResult<()> {
        self.forget(std::slice::from_ref(session)).await
    }

    /// Removes sessions from secondary storage and from their users' active lists.
    async fn forget(&self, sessions: &[Record]) -> StoreResult<()> {
        for s in sessions {
            let token = s.string("token");
            self.kv.delete(&token).await?;
            self.edit_active(&s.string("userId"), |list| list.retain(|e| e["token"] != token.as_str())).await?;
        }
        Ok(())
    }

    async fn edit_active(&self, user_id: &str, edit: impl FnOnce(&mut Vec<Json>)) -> StoreResult<()> {
        let key = active_key(user_id);
        let mut list: Vec<Json> = match self.kv.get(&key).await? {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => Vec::new(),
        };
        edit(&mut list);
        let now = Utc::now().timestamp_millis();
        list.retain(|e| e["expiresAt"].as_i64().is_some_and(|x| x > now));
        let longest = list.iter().filter_map(|e| e["expiresAt"].as_i64()).max().unwrap_or(now);
        if list.is_empty() {
            return self.kv.delete(&key).await;
        }
        let ttl = u64::try_from((longest - now) / 1000).unwrap_or(1).max(1);
        self.kv.set(&key, &Json::Array(list).to_string(), Some(ttl)).await
    }

    /// JSON (API shape) back to a record, typed by the schema.
    fn record_from_json(&self, model: &str, v: &Json) -> Option<Record> {
        let m = self.schema.model(model).ok()?;
        let obj = v.as_object()?;
        let mut rec = Record(Vec::with_capacity(m.fields.len()));
        for f in &m.fields {
            let value = match obj.get(&f.name) {
                None | Some(Json::Null) => Value::Null,
                Some(v) if f.ty.is_json() => Value::Json(v.clone()),
                Some(Json::String(s)) if f.ty == super::FieldType::Date => {
                    Value::Date(chrono::DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc))
                }
                Some(Json::String(s)) => Value::Text(s.clone()),
                Some(Json::Bool(b)) => Value::Bool(*b),
                Some(Json::Number(n)) => Value::Int(n.as_i64()?),
                Some(other) => Value::Text(other.to_string()),
            };
            rec.0.push((f.name.clone(), value));
        }
        Some(rec)
    }

    /// Removes, before a write, the sessions it may change; returns them for after the write.
    async fn withdraw_affected(&self, ops: &dyn Ops, model: &str, filter: &[Where]) -> StoreResult<Vec<Record>> {
        let affected = self.affected(ops, model, filter).await?;
        self.forget(&affected).await?;
        Ok(affected)
    }

    /// Sessions a write to `model` with `filter` may change: found before the write. A
    /// session write that runs hooks may also change its user's row (each of the user's
    /// sessions carries a copy of it): all of that user's sessions then.
    async fn affected(&self, ops: &dyn Ops, model: &str, filter: &[Where]) -> StoreResult<Vec<Record>> {
        match model {
            "session" if ops.hooked("session") => {
                let sessions = ops.find_many("session", filter, FindMany::default()).await?;
                let users = sessions.iter().filter_map(|s| s.get("userId").cloned()).collect();
                sessions_of(ops, users).await
            }
            "session" => ops.find_many("session", filter, FindMany::default()).await,
            "user" => {
                let users = ops.find_many("user", filter, FindMany::default()).await?;
                sessions_of(ops, users.iter().filter_map(|u| u.get("id").cloned()).collect()).await
            }
            _ => Ok(Vec::new()),
        }
    }

    /// After a session is created by a write that ran hooks, removes the user's other
    /// sessions, whose copies of the user the hooks may have made stale; returns them.
    async fn withdraw_after_create(&self, ops: &dyn Ops, created: &Record) -> StoreResult<Vec<Record>> {
        if !ops.hooked("session") {
            return Ok(Vec::new());
        }
        let mut others = sessions_of(ops, vec![created.get("userId").cloned().unwrap_or(Value::Null)]).await?;
        others.retain(|s| s.get("id") != created.get("id"));
        self.forget(&others).await?;
        Ok(others)
    }
}

async fn sessions_of(ops: &dyn Ops, user_ids: Vec<Value>) -> StoreResult<Vec<Record>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    ops.find_many("session", &[Where::is_in("userId", user_ids)], FindMany::default()).await
}

/// Sessions mirrored as a [`Layer`]. In a transaction it keeps the sessions removed (removed
/// again after commit) and created (published after commit).
#[derive(Default)]
pub struct Pending {
    created: Mutex<Vec<Record>>,
    removed: Mutex<Vec<Record>>,
}

/// The adapter with sessions mirrored into secondary storage.
pub type MirroredStore = Layered<Mirror>;

impl MirroredStore {
    pub fn new(inner: Store, mirror: Mirror) -> Self {
        Layered::wrap(inner, mirror)
    }
}

fn taken(list: Mutex<Vec<Record>>) -> Vec<Record> {
    list.into_inner().unwrap_or_else(|p| p.into_inner())
}

impl Mirror {
    async fn publish_created(&self, ops: &dyn Ops, session: &Record) -> StoreResult<()> {
        match ops.find_one("user", &[Where::eq("id", session.string("userId"))]).await? {
            Some(u) => self.put(session, &u).await,
            None => Ok(()),
        }
    }

    /// After a write: on the store the sessions go again at once (a reader may have
    /// republished the old row between our removal and the write); in a transaction, after
    /// commit. The write itself is done: a failure here is logged, not reported as the write's.
    async fn after_write(&self, cx: Cx<'_, Pending>, affected: Vec<Record>) {
        match cx.state() {
            Some(p) => p.removed.lock().unwrap_or_else(|p| p.into_inner()).extend(affected),
            None => logged("forget after write", self.forget(&affected).await),
        }
    }
}

/// Update and delete remove what they touch from secondary storage, before and after.
macro_rules! around {
    ($self:ident, $cx:ident, $m:ident, $w:ident, $write:expr) => {{
        let affected = $self.withdraw_affected($cx.ops, $m, $w).await?;
        let r = $write.await?;
        $self.after_write($cx, affected).await;
        Ok(r)
    }};
}

impl Layer for Mirror {
    type State = Pending;

    async fn begin(&self, _: &dyn Ops, _: &Intent) -> StoreResult<Pending> {
        Ok(Pending::default())
    }

    async fn committed(&self, store: &dyn Adapter, pending: Pending, ok: bool) {
        if !ok {
            return;
        }
        // Committed: what follows is logged on failure, never reported as the commit's.
        let removed = taken(pending.removed);
        logged("forget after commit", self.forget(&removed).await);
        let mut created = taken(pending.created);
        // A session written again later in the transaction (or whose user was) is not
        // published as first created: the first lookup reads it as committed.
        created.retain(|s| !removed.iter().any(|r| r.get("id") == s.get("id")));
        for s in created {
            if let Ok(Some(u)) = store.find_one("user", &[Where::eq("id", s.string("userId"))]).await {
                logged("publish session", self.put(&s, &u).await);
            }
        }
    }

    async fn create(&self, cx: Cx<'_, Pending>, m: &str, d: Record) -> StoreResult<Record> {
        let created = cx.ops.create(m, d).await?;
        if m != "session" {
            return Ok(created);
        }
        // `created` is the row as committed, hooks' writes included (the hooks layer re-reads
        // it). Not published is only slower: the first lookup reads the database.
        match cx.state() {
            Some(pending) => {
                let withdrawn = self.withdraw_after_create(cx.ops, &created).await?;
                self.after_write(cx, withdrawn).await;
                pending.created.lock().unwrap_or_else(|p| p.into_inner()).push(created.clone());
            }
            None => {
                let withdrawn = self.withdraw_after_create(cx.ops, &created).await;
                logged("forget after hooks", withdrawn.map(|_| ()));
                logged("publish session", self.publish_created(cx.ops, &created).await);
            }
        }
        Ok(created)
    }
    async fn update(&self, cx: Cx<'_, Pending>, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
        around!(self, cx, m, w, cx.ops.update(m, w, d))
    }
    async fn update_many(&self, cx: Cx<'_, Pending>, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
        around!(self, cx, m, w, cx.ops.update_many(m, w, d))
    }
    async fn delete(&self, cx: Cx<'_, Pending>, m: &str, w: &[Where]) -> StoreResult<()> {
        around!(self, cx, m, w, cx.ops.delete(m, w))
    }
    async fn delete_many(&self, cx: Cx<'_, Pending>, m: &str, w: &[Where]) -> StoreResult<u64> {
        around!(self, cx, m, w, cx.ops.delete_many(m, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::Plugins;
    use crate::store::sql::{SqlStore, open};
    use crate::store::{migrate, now, secondary};

    /// `None` (and one line saying so) when this run has no Redis.
    async fn setup() -> Option<(MirroredStore, Arc<dyn SecondaryStorage>)> {
        let url = crate::testing::require(crate::testing::Service::Redis, "session mirror tests")?;
        let pool = open("sqlite::memory:").await.unwrap();
        let schema = Arc::new(Schema::better_auth(Plugins { jwt: false, two_factor: false }));
        migrate::migrate(&pool, &schema, |_| {}).await.unwrap();
        let kv = secondary::open(&url).await.unwrap();
        let db: Store = Arc::new(SqlStore::new(pool, schema.clone()));
        Some((MirroredStore::new(db, Mirror::new(kv.clone(), schema)), kv))
    }

    fn user(id: &str) -> Record {
        Record::new()
            .with("id", id)
            .with("name", "N")
            .with("email", format!("{id}@x.io"))
            .with("emailVerified", false)
            .with("createdAt", now())
            .with("updatedAt", now())
    }

    fn session(user_id: &str) -> Record {
        let token = crate::crypto::random_id(32);
        Record::new()
            .with("id", crate::crypto::random_id(32))
            .with("expiresAt", now() + chrono::Duration::hours(1))
            .with("token", token)
            .with("createdAt", now())
            .with("updatedAt", now())
            .with("userId", user_id)
    }

    async fn active(kv: &Arc<dyn SecondaryStorage>, user_id: &str) -> Vec<String> {
        let list: Vec<Json> =
            kv.get(&active_key(user_id)).await.unwrap().map_or(vec![], |t| serde_json::from_str(&t).unwrap());
        list.iter().map(|e| e["token"].as_str().unwrap().to_string()).collect()
    }

    #[tokio::test]
    async fn sessions_are_published_in_better_auths_layout_and_removed_on_revocation() {
        let Some((s, kv)) = setup().await else { return };
        let uid = crate::crypto::random_id(32);
        s.create("user", user(&uid)).await.unwrap();
        let (a, b) =
            (s.create("session", session(&uid)).await.unwrap(), s.create("session", session(&uid)).await.unwrap());
        let pair: Json = serde_json::from_str(&kv.get(&a.string("token")).await.unwrap().unwrap()).unwrap();
        assert_eq!(pair["session"]["userId"], uid.as_str());
        assert_eq!(pair["user"]["email"], format!("{uid}@x.io"));
        assert_eq!(active(&kv, &uid).await, [a.string("token"), b.string("token")]);
        s.delete("session", &[Where::eq("token", a.string("token"))]).await.unwrap();
        assert!(kv.get(&a.string("token")).await.unwrap().is_none());
        assert_eq!(active(&kv, &uid).await, [b.string("token")]);
        // A change to the user withdraws the user's sessions (the next read republishes).
        s.update("user", &[Where::eq("id", uid.as_str())], Record::new().with("name", "M")).await.unwrap();
        assert!(kv.get(&b.string("token")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn transactions_publish_only_after_commit() {
        let Some((s, kv)) = setup().await else { return };
        let uid = crate::crypto::random_id(32);
        s.create("user", user(&uid)).await.unwrap();
        let tx = s.begin().await.unwrap();
        let rolled_back = tx.create("session", session(&uid)).await.unwrap();
        drop(tx);
        assert!(kv.get(&rolled_back.string("token")).await.unwrap().is_none());
        let tx = s.begin().await.unwrap();
        let kept = tx.create("session", session(&uid)).await.unwrap();
        assert!(kv.get(&kept.string("token")).await.unwrap().is_none(), "not before commit");
        tx.commit().await.unwrap();
        assert!(kv.get(&kept.string("token")).await.unwrap().is_some());
        let tx = s.begin().await.unwrap();
        tx.delete_many("session", &[Where::eq("userId", uid.as_str())]).await.unwrap();
        tx.commit().await.unwrap();
        assert!(kv.get(&kept.string("token")).await.unwrap().is_none());
        assert!(active(&kv, &uid).await.is_empty());
    }
}
