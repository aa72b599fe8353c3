//! Instance settings (administrators only). The known keys, their types, defaults and rules
//! are declared once in [`crate::settings`]; these handlers only validate against it, store,
//! and record one audit entry per changed key in the same transaction as the change.

use std::borrow::Cow;
use std::collections::BTreeMap;

use poem::web::{Data, RemoteAddr};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Object, OpenApi};
use serde_json::{Value, json};

use super::bearer::BearerAuth;
use super::tag::Tag;
use crate::audited::{Change, Outcome, client_ip};
use crate::db::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::settings::{self, Setting};
use crate::state::AppState;
use crate::store::settings::{self as stored, StoredSetting};
use crate::store::users::User;

pub struct SettingsApi;

/// Settings by key: every one in force (`GET`), or the ones to change (`PUT`, at least one). Its
/// schema names each key with the values it takes, from [`settings::REGISTRY`].
#[derive(Debug, Clone, Default)]
struct SettingsMap(BTreeMap<String, Value>);

impl Type for SettingsMap {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Value;

    fn name() -> Cow<'static, str> {
        "Settings".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            properties: settings::REGISTRY
                .iter()
                .map(|setting| (setting.key, setting.kind.schema()))
                .collect(),
            min_properties: Some(1),
            ..MetaSchema::new("object")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        Box::new(self.0.values())
    }
}

impl ParseFromJSON for SettingsMap {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        BTreeMap::parse_from_json(value)
            .map(SettingsMap)
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for SettingsMap {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

/// One setting with what a client needs to show and edit it.
#[derive(Object)]
struct SettingDetail {
    key: String,
    /// The value in force: the stored one, or the default when none is stored.
    value: Value,
    default: Value,
    /// `string`, `boolean` or `integer`.
    #[oai(rename = "type")]
    kind: String,
    /// The values accepted, in words.
    expects: String,
    description: String,
    /// When an administrator last set it; null while the default applies.
    updated_at: Option<Timestamp>,
}

/// A new value for one setting.
#[derive(Object)]
struct SettingValue {
    /// `null` only where the setting allows it.
    value: Value,
}

impl SettingDetail {
    fn new(setting: &Setting, value: Value, updated_at: Option<Timestamp>) -> Self {
        SettingDetail {
            key: setting.key.to_owned(),
            value,
            default: setting.default_value(),
            kind: setting.kind.type_name().to_owned(),
            expects: setting.kind.expects(),
            description: setting.description.to_owned(),
            updated_at,
        }
    }
}

/// The setting a path names; 404 naming the key otherwise.
fn known(key: &str) -> ApiResult<&'static Setting> {
    settings::find(key).ok_or_else(|| {
        ApiError::new(
            poem::http::StatusCode::NOT_FOUND,
            "not_found",
            settings::unknown(key),
        )
    })
}

async fn settings_map(state: &AppState) -> ApiResult<Json<SettingsMap>> {
    let all = settings::all_in_force(&state.db).await?;
    Ok(Json(SettingsMap(
        all.into_iter()
            .map(|(setting, value)| (setting.key.to_owned(), value))
            .collect(),
    )))
}

async fn setting_detail(state: &AppState, setting: &Setting) -> ApiResult<Json<SettingDetail>> {
    let (value, updated_at) = setting.current(&state.db).await?;
    Ok(Json(SettingDetail::new(setting, value, updated_at)))
}

/// Stores validated values in one transaction, with one `setting.update` audit entry per key
/// holding the value in force before and the new one.
async fn store(
    state: &AppState,
    admin: &User,
    ip: Option<String>,
    changes: Vec<(&'static Setting, Value)>,
) -> ApiResult<()> {
    let change = Change::by_id(Some(admin.id), ip, "setting.update");
    state
        .audited(change, move |tx| {
            let changes = changes.clone();
            Box::pin(async move {
                let mut outcome = Outcome::unrecorded(());
                for (setting, value) in changes {
                    let before: Option<StoredSetting> = tx
                        .conn()
                        .fetch_optional(stored::by_name(setting.key))
                        .await?;
                    let stored = before.map(|r| r.value);
                    if stored.as_ref() == Some(&value) {
                        // Already stored: nothing to write or audit (see `input::differs`).
                        continue;
                    }
                    let old = setting.in_force(stored);
                    stored::put(tx, setting.key, value.clone()).await?;
                    let metadata = json!({ "old": old, "new": value });
                    outcome = outcome.also("setting", setting.key, metadata);
                }
                Ok(outcome)
            })
        })
        .await?;
    Ok(())
}

#[OpenApi(tag = "Tag::Settings")]
impl SettingsApi {
    /// Every setting's value in force (stored values over defaults), by key.
    #[oai(path = "/api/settings", method = "get")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<SettingsMap>> {
        state.admin(&auth).await?;
        settings_map(&state).await
    }

    /// Sets several settings at once, all or nothing: one unknown key or invalid value (422,
    /// naming each) and nothing changes. Answers every setting's value in force.
    #[oai(path = "/api/settings", method = "put")]
    async fn update_many(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<SettingsMap>,
    ) -> ApiResult<Json<SettingsMap>> {
        let admin = state.admin(&auth).await?;
        let body = body.0.0;
        // At least one key, each known: the document says so (`minProperties`, no other
        // properties), and the body checker holds every request to it.
        let mut changes = Vec::with_capacity(body.len());
        let mut problems = Vec::new();
        for (key, value) in body {
            let checked = settings::find(&key)
                .ok_or_else(|| ApiError::invalid(settings::unknown(&key)))
                .and_then(|setting| Ok((setting, setting.validate(value)?)));
            match checked {
                Ok(change) => changes.push(change),
                Err(problem) => problems.push(problem.message),
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(format!(
                "nothing was changed: {}",
                problems.join("; ")
            )));
        }
        store(&state, &admin, client_ip(remote), changes).await?;
        settings_map(&state).await
    }

    /// One setting: its value in force, default, type, accepted values and meaning.
    #[oai(path = "/api/settings/:key", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        key: Path<String>,
    ) -> ApiResult<Json<SettingDetail>> {
        state.admin(&auth).await?;
        setting_detail(&state, known(&key.0)?).await
    }

    /// Sets one setting (`{"value": …}`); 404 for an unknown key, 422 for a value it does not
    /// accept.
    #[oai(path = "/api/settings/:key", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        key: Path<String>,
        body: Json<SettingValue>,
    ) -> ApiResult<Json<SettingDetail>> {
        let admin = state.admin(&auth).await?;
        let setting = known(&key.0)?;
        let value = body.0.value;
        let value = setting.validate(value)?;
        store(&state, &admin, client_ip(remote), vec![(setting, value)]).await?;
        setting_detail(&state, setting).await
    }
}
