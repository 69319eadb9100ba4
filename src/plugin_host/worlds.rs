//! The four worlds' calls: their inputs, their outputs, and the checks each output must
//! pass before the host acts on it (sizes, counts, outbox file names, JSON shape).
//!
//! The call itself (fresh store, limits, faults) is `call::run`; this file only converts
//! between kith's types and the generated bindings.

use super::call::run;
use super::limits::Limits;
use super::manifest::Kind;
use super::runtime::bindings::delivery as d;
use super::runtime::bindings::delivery_v0_2 as d2;
use super::runtime::bindings::migration::exports::kith::plugin::migration as m;
use super::runtime::bindings::validator::kith::plugin::types::{
    CallContext, FieldError as WitFieldError,
};
use super::runtime::{HostState, Loaded, Pre};
use super::{Fault, FaultKind, FieldError, Plugin, PluginError, Report};
use serde::Serialize;
use std::fmt::Write as _;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{InstancePre, Type};

/// An invite as a delivery plugin sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Invite {
    pub recipient: String,
    pub recovery_link: String,
    pub recovery_code: String,
    pub expires_unix_ms: u64,
    pub traits_json: String,
}

/// A file a delivery plugin asks the host to write into the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxFile {
    pub name: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// An e-mail a delivery plugin asks the host to send (`kith:plugin@0.2.0`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EmailMessage {
    /// `From:`; empty for the host's `courier.smtp.from_address`.
    pub sender: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// A JSON POST a delivery plugin asks the host to make (`kith:plugin@0.2.0`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HttpPost {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body_json: String,
}

/// What a delivery plugin asks the host to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", content = "files", rename_all = "snake_case")]
pub enum Plan {
    Outbox(Vec<OutboxFile>),
    Email(EmailMessage),
    Http(HttpPost),
    Nothing,
}

/// Which version of the contract a component speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    V0_1,
    V0_2,
}

/// The version of `kind`'s export a component has: 0.2.0 where it exports that one.
pub fn api_of(kind: Kind, pre: &InstancePre<HostState>) -> Api {
    let v0_2 = export_of(kind, Api::V0_2).0;
    match pre.component().get_export(None, v0_2) {
        Some(_) if v0_2.ends_with("@0.2.0") => Api::V0_2,
        _ => Api::V0_1,
    }
}

/// Most files one plan may ask for.
const MAX_PLAN_FILES: usize = 8;

fn context(plugin: &Plugin, now_unix_ms: u64) -> CallContext {
    CallContext {
        config: plugin
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        now_unix_ms,
    }
}

/// Checks field errors against the output limits and converts them.
fn field_errors(
    plugin: &Plugin,
    limits: &Limits,
    errors: Vec<WitFieldError>,
) -> Result<Vec<FieldError>, Fault> {
    let size: usize = errors
        .iter()
        .map(|e| e.pointer.len() + e.code.len() + e.message.len())
        .sum();
    if errors.len() > limits.max_field_errors || size > limits.max_output_bytes {
        return Err(plugin.fault(
            FaultKind::OutputTooLarge,
            format!(
                "returned {} field errors ({size} bytes); at most {} errors and {} bytes are accepted",
                errors.len(),
                limits.max_field_errors,
                limits.max_output_bytes
            ),
        ));
    }
    Ok(errors
        .into_iter()
        .map(|e| FieldError {
            pointer: e.pointer,
            code: e.code,
            message: e.message,
        })
        .collect())
}

pub fn validate(
    loaded: &Loaded,
    plugin: &Plugin,
    schema_id: &str,
    traits_json: &str,
    now_unix_ms: u64,
) -> Result<Report<Result<(), Vec<FieldError>>>, Fault> {
    let Pre::Validator(pre) = &loaded.pre else {
        return Err(plugin.fault(FaultKind::Trap, "not a trait validator"));
    };
    let ctx = context(plugin, now_unix_ms);
    let report = run(loaded, plugin, traits_json.len(), |store| {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .kith_plugin_validator()
            .call_validate(store, &ctx, schema_id, traits_json)
    })?;
    let limits = plugin.limits();
    let output = match &report.output {
        Ok(()) => Ok(()),
        Err(errors) => Err(field_errors(plugin, &limits, errors.clone())?),
    };
    Ok(report.with_output(output))
}

pub fn deliver(
    loaded: &Loaded,
    plugin: &Plugin,
    invite: &Invite,
    now_unix_ms: u64,
) -> Result<Report<Plan>, Fault> {
    let input = invite.recipient.len()
        + invite.recovery_link.len()
        + invite.recovery_code.len()
        + invite.traits_json.len();
    // The two versions' bindings are distinct types of the same shape.
    macro_rules! call_deliver {
        ($($context:ident)::+, $($invite:ident)::+, $pre:expr, $convert:expr) => {{
            let ctx = $($context)::+ {
                config: context(plugin, now_unix_ms).config,
                now_unix_ms,
            };
            let wit_invite = $($invite)::+ {
                recipient: invite.recipient.clone(),
                recovery_link: invite.recovery_link.clone(),
                recovery_code: invite.recovery_code.clone(),
                expires_unix_ms: invite.expires_unix_ms,
                traits_json: invite.traits_json.clone(),
            };
            run(loaded, plugin, input, |store| {
                let instance = $pre.instantiate(&mut *store)?;
                instance
                    .kith_plugin_delivery()
                    .call_deliver(store, &ctx, &wit_invite)
            })?
            .map(|output| output.map($convert))
        }};
    }
    let report = match &loaded.pre {
        Pre::Delivery(pre) => call_deliver!(
            CallContext,
            d::exports::kith::plugin::delivery::Invite,
            pre,
            plan_of_v0_1
        ),
        Pre::DeliveryV02(pre) => call_deliver!(
            d2::kith::plugin::types::CallContext,
            d2::exports::kith::plugin::delivery::Invite,
            pre,
            plan_of_v0_2
        ),
        _ => return Err(plugin.fault(FaultKind::Trap, "not an invite delivery plugin")),
    };
    let limits = plugin.limits();
    let plan = match &report.output {
        Err(message) => {
            let message: String = message.chars().take(1024).collect();
            return Err(plugin.fault(FaultKind::Failed, message));
        }
        Ok(Plan::Nothing) => Plan::Nothing,
        Ok(plan @ (Plan::Email(_) | Plan::Http(_))) => {
            check_message_plan(plan, limits.max_output_bytes)
                .map_err(|why| plugin.fault(FaultKind::BadOutput, why))?;
            plan.clone()
        }
        Ok(Plan::Outbox(files)) => {
            let size: usize = files.iter().map(|f| f.body.len() + f.name.len()).sum();
            if files.len() > MAX_PLAN_FILES || size > limits.max_output_bytes {
                return Err(plugin.fault(
                    FaultKind::OutputTooLarge,
                    format!(
                        "planned {} files ({size} bytes); at most {MAX_PLAN_FILES} files and {} bytes are accepted",
                        files.len(),
                        limits.max_output_bytes
                    ),
                ));
            }
            for file in files {
                check_file_name(&file.name).map_err(|why| {
                    plugin.fault(
                        FaultKind::BadOutput,
                        format!("outbox file name {:?} {why}", file.name),
                    )
                })?;
            }
            Plan::Outbox(files.clone())
        }
    };
    Ok(report.with_output(plan))
}

/// An outbox plan of (name, content type, bytes) files, whichever version's bindings.
fn outbox(files: impl Iterator<Item = (String, String, Vec<u8>)>) -> Plan {
    Plan::Outbox(
        files
            .map(|(name, content_type, body)| OutboxFile {
                name,
                content_type,
                body,
            })
            .collect(),
    )
}

fn plan_of_v0_1(plan: d::exports::kith::plugin::delivery::Plan) -> Plan {
    use d::exports::kith::plugin::delivery::Plan as Wit;
    match plan {
        Wit::Nothing => Plan::Nothing,
        Wit::Outbox(files) => outbox(files.into_iter().map(|f| (f.name, f.content_type, f.body))),
    }
}

fn plan_of_v0_2(plan: d2::exports::kith::plugin::delivery::Plan) -> Plan {
    use d2::exports::kith::plugin::delivery::Plan as Wit;
    match plan {
        Wit::Nothing => Plan::Nothing,
        Wit::Outbox(files) => outbox(files.into_iter().map(|f| (f.name, f.content_type, f.body))),
        Wit::Email(email) => Plan::Email(EmailMessage {
            sender: email.sender,
            to: email.to,
            subject: email.subject,
            text: email.text,
            html: email.html,
            headers: email.headers,
        }),
        Wit::Http(post) => Plan::Http(HttpPost {
            url: post.url,
            headers: post.headers,
            body_json: post.body_json,
        }),
    }
}

/// Most headers an e-mail or HTTP plan may add.
const MAX_PLAN_HEADERS: usize = 32;

/// An e-mail or HTTP plan must fit the output limit, add only well-formed headers (no line
/// breaks: a plugin cannot smuggle a header or a second request), and an HTTP body must be
/// JSON. Where it may go (the relay, the allow-list) is the courier's to check.
fn check_message_plan(plan: &Plan, max_bytes: usize) -> Result<(), String> {
    let (headers, texts): (&[(String, String)], Vec<&str>) = match plan {
        Plan::Email(email) => (
            &email.headers,
            vec![
                &email.sender,
                &email.to,
                &email.subject,
                &email.text,
                email.html.as_deref().unwrap_or(""),
            ],
        ),
        Plan::Http(post) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(&post.body_json).is_err() {
                return Err("planned an HTTP POST whose body is not JSON".into());
            }
            (&post.headers, vec![&post.url, &post.body_json])
        }
        Plan::Outbox(_) | Plan::Nothing => return Ok(()),
    };
    let size: usize = texts.iter().map(|t| t.len()).sum::<usize>()
        + headers
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    if size > max_bytes {
        return Err(format!(
            "planned a message of {size} bytes; at most {max_bytes} are accepted"
        ));
    }
    if headers.len() > MAX_PLAN_HEADERS {
        return Err(format!(
            "planned {} headers; at most {MAX_PLAN_HEADERS} are accepted",
            headers.len()
        ));
    }
    for (name, value) in headers {
        let token = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !token || value.contains(['\r', '\n', '\0']) {
            return Err(format!(
                "planned the header {name:?}, which is not a header name and a one-line value"
            ));
        }
    }
    if let Plan::Email(email) = plan {
        for (field, value) in [
            ("sender", &email.sender),
            ("to", &email.to),
            ("subject", &email.subject),
        ] {
            if value.contains(['\r', '\n', '\0']) {
                return Err(format!("planned an e-mail whose {field} has a line break"));
            }
        }
    }
    Ok(())
}

impl Plan {
    /// The capability the host needs granted to carry this plan out, if any. Every plan that
    /// acts on the world names one here, so the delivery flow can check the plugin's grants
    /// before acting.
    pub fn required_capability(&self) -> Option<&'static str> {
        match self {
            Plan::Outbox(_) => Some("outbox:write"),
            Plan::Email(_) => Some("email:send"),
            Plan::Http(_) => Some("http:post"),
            Plan::Nothing => None,
        }
    }
}

/// The interface a kind exports, its one function, and that function's WIT declaration (as
/// `plugins/wit/kith-plugin.wit` spells it, for messages).
fn export_of(kind: Kind, api: Api) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::InviteDelivery if api == Api::V0_2 => (
            "kith:plugin/delivery@0.2.0",
            "deliver",
            "deliver: func(ctx: call-context, invite: invite) -> result<plan, string>",
        ),
        Kind::TraitValidator => (
            "kith:plugin/validator@0.1.0",
            "validate",
            "validate: func(ctx: call-context, schema-id: string, traits-json: string) -> result<_, list<field-error>>",
        ),
        Kind::InviteDelivery => (
            "kith:plugin/delivery@0.1.0",
            "deliver",
            "deliver: func(ctx: call-context, invite: invite) -> result<plan, string>",
        ),
        Kind::ImportMapper => (
            "kith:plugin/mapper@0.1.0",
            "map-record",
            "map-record: func(ctx: call-context, record-json: string) -> result<string, list<field-error>>",
        ),
        Kind::PasswordMigration => (
            "kith:plugin/migration@0.1.0",
            "verify",
            "verify: func(ctx: call-context, attempt: attempt) -> result<verdict, string>",
        ),
    }
}

/// Checks the type of the function `kind` calls, with the same type check a call makes when
/// it instantiates the component, so a component whose export has the right name but the
/// wrong type is refused once, at install, instead of failing every call.
///
/// # Errors
/// [`PluginError::WrongExportType`] naming the export, its type and the expected one;
/// [`PluginError::Unloadable`] when the export is missing or not a function.
pub fn check_export_type(
    kind: Kind,
    api: Api,
    pre: &InstancePre<HostState>,
) -> Result<(), PluginError> {
    let (interface, name, expected) = export_of(kind, api);
    let export = format!("{interface}#{name}");
    let component = pre.component();
    let func = component
        .get_export(None, interface)
        .and_then(|(_, instance)| component.get_export(Some(&instance), name));
    let func = match func {
        Some((ComponentItem::ComponentFunc(func), _)) => func,
        Some(_) => {
            return Err(PluginError::Unloadable(format!(
                "its export `{export}` is not a function"
            )));
        }
        None => {
            return Err(PluginError::Unloadable(format!(
                "it does not export `{export}`"
            )));
        }
    };
    let types = pre.instance_type();
    // The signatures the generated bindings call with (params borrowed, as they lower them).
    let checked = match kind {
        Kind::TraitValidator => func
            .typecheck::<(&CallContext, &str, &str), (Result<(), Vec<WitFieldError>>,)>(&types),
        Kind::InviteDelivery if api == Api::V0_2 => func.typecheck::<(
            &d2::kith::plugin::types::CallContext,
            &d2::exports::kith::plugin::delivery::Invite,
        ), (Result<d2::exports::kith::plugin::delivery::Plan, String>,)>(
            &types
        ),
        Kind::InviteDelivery => func.typecheck::<(
            &CallContext,
            &d::exports::kith::plugin::delivery::Invite,
        ), (Result<d::exports::kith::plugin::delivery::Plan, String>,)>(
            &types
        ),
        Kind::ImportMapper => func
            .typecheck::<(&CallContext, &str), (Result<String, Vec<WitFieldError>>,)>(&types),
        Kind::PasswordMigration => func
            .typecheck::<(&CallContext, &m::Attempt), (Result<m::Verdict, String>,)>(&types),
    };
    checked.map_err(|_| PluginError::WrongExportType {
        kind,
        export,
        found: describe_func(name, &func),
        expected,
    })
}

/// A function type in WIT syntax, for messages: `name: func(a: string) -> u32`.
fn describe_func(name: &str, func: &ComponentFunc) -> String {
    let mut text = format!("{name}: func(");
    for (i, (param, ty)) in func.params().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{param}: ");
        describe_type(&mut text, &ty, 0);
    }
    text.push(')');
    let results: Vec<Type> = func.results().collect();
    if let [result] = results.as_slice() {
        text.push_str(" -> ");
        describe_type(&mut text, result, 0);
    }
    // Types are finite but may be wide; a message needs only the start.
    if text.len() > 400 {
        let mut cut = 400;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Writes `ty` structurally (records by their fields, since a component's types are
/// anonymous to the host), down to a few levels.
fn describe_type(out: &mut String, ty: &Type, depth: usize) {
    if depth > 6 {
        out.push_str("...");
        return;
    }
    let inner = |out: &mut String, ty: &Type| describe_type(out, ty, depth + 1);
    match ty {
        Type::Bool => out.push_str("bool"),
        Type::S8 => out.push_str("s8"),
        Type::U8 => out.push_str("u8"),
        Type::S16 => out.push_str("s16"),
        Type::U16 => out.push_str("u16"),
        Type::S32 => out.push_str("s32"),
        Type::U32 => out.push_str("u32"),
        Type::S64 => out.push_str("s64"),
        Type::U64 => out.push_str("u64"),
        Type::Float32 => out.push_str("f32"),
        Type::Float64 => out.push_str("f64"),
        Type::Char => out.push_str("char"),
        Type::String => out.push_str("string"),
        Type::List(list) => {
            out.push_str("list<");
            inner(out, &list.ty());
            out.push('>');
        }
        Type::Option(option) => {
            out.push_str("option<");
            inner(out, &option.ty());
            out.push('>');
        }
        Type::Result(result) => {
            out.push_str("result<");
            match result.ok() {
                Some(ok) => inner(out, &ok),
                None => out.push('_'),
            }
            if let Some(err) = result.err() {
                out.push_str(", ");
                inner(out, &err);
            }
            out.push('>');
        }
        Type::Tuple(tuple) => {
            out.push_str("tuple<");
            for (i, ty) in tuple.types().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inner(out, &ty);
            }
            out.push('>');
        }
        Type::Record(record) => {
            out.push_str("record { ");
            for (i, field) in record.fields().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", field.name);
                inner(out, &field.ty);
            }
            out.push_str(" }");
        }
        Type::Variant(variant) => {
            out.push_str("variant { ");
            for (i, case) in variant.cases().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(case.name);
                if let Some(ty) = &case.ty {
                    out.push('(');
                    inner(out, ty);
                    out.push(')');
                }
            }
            out.push_str(" }");
        }
        Type::Enum(names) => {
            let names: Vec<&str> = names.names().collect();
            let _ = write!(out, "enum {{ {} }}", names.join(", "));
        }
        Type::Flags(names) => {
            let names: Vec<&str> = names.names().collect();
            let _ = write!(out, "flags {{ {} }}", names.join(", "));
        }
        Type::Own(_) | Type::Borrow(_) => out.push_str("resource"),
        _ => out.push_str("(an async or unstable type)"),
    }
}

/// A plan's file name must be a plain name inside the outbox, nothing more.
pub fn check_file_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 bytes");
    }
    if name.starts_with('.') {
        return Err("must not start with a dot");
    }
    if name.contains(['/', '\\', '\0', ':']) || name.chars().any(char::is_control) {
        return Err("must not contain separators or control characters");
    }
    Ok(())
}

pub fn map_record(
    loaded: &Loaded,
    plugin: &Plugin,
    record_json: &str,
    now_unix_ms: u64,
) -> Result<Report<Result<String, Vec<FieldError>>>, Fault> {
    let Pre::Mapper(pre) = &loaded.pre else {
        return Err(plugin.fault(FaultKind::Trap, "not an import mapper"));
    };
    let ctx = context(plugin, now_unix_ms);
    let report = run(loaded, plugin, record_json.len(), |store| {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .kith_plugin_mapper()
            .call_map_record(store, &ctx, record_json)
    })?;
    let limits = plugin.limits();
    let body = match &report.output {
        Ok(body) => body,
        Err(errors) => {
            let errors = field_errors(plugin, &limits, errors.clone())?;
            return Ok(report.with_output(Err(errors)));
        }
    };
    if body.len() > limits.max_output_bytes {
        return Err(plugin.fault(
            FaultKind::OutputTooLarge,
            format!(
                "returned {} bytes; at most {} are accepted",
                body.len(),
                limits.max_output_bytes
            ),
        ));
    }
    if !is_json_object(body) {
        return Err(plugin.fault(
            FaultKind::BadOutput,
            "returned something that is not a JSON object (a createIdentityBody)",
        ));
    }
    // The body moves out as it is (the field errors' type only changes: there are none).
    Ok(report.map(|output| output.map_err(|_| Vec::new())))
}

/// Whether `text` is one JSON object, checked without building it: the import parses the
/// body once, into its own types, right after.
fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// One sign-in attempt on an identity flagged for password migration, as the plugin gets it.
/// `Debug` leaves out the password and the legacy hash.
#[derive(Clone)]
pub struct MigrationAttempt {
    /// What the user typed to identify themselves.
    pub identifier: String,
    pub password: String,
    /// The other system's hash, empty when the import kept none.
    pub legacy_hash: String,
    pub traits_json: String,
    pub metadata_public_json: String,
    pub metadata_admin_json: String,
}

impl std::fmt::Debug for MigrationAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationAttempt")
            .field("identifier", &self.identifier)
            .finish_non_exhaustive()
    }
}

/// A password-migration plugin's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The password is the one the other system knew.
    PasswordMatch,
    /// Not the password.
    NoMatch,
}

pub fn verify_password(
    loaded: &Loaded,
    plugin: &Plugin,
    attempt: &MigrationAttempt,
    now_unix_ms: u64,
) -> Result<Report<Verdict>, Fault> {
    let Pre::Migration(pre) = &loaded.pre else {
        return Err(plugin.fault(FaultKind::Trap, "not a password migration plugin"));
    };
    let ctx = context(plugin, now_unix_ms);
    let wit = m::Attempt {
        identifier: attempt.identifier.clone(),
        password: attempt.password.clone(),
        legacy_hash: attempt.legacy_hash.clone(),
        traits_json: attempt.traits_json.clone(),
        metadata_public_json: attempt.metadata_public_json.clone(),
        metadata_admin_json: attempt.metadata_admin_json.clone(),
    };
    let input = wit.identifier.len()
        + wit.password.len()
        + wit.legacy_hash.len()
        + wit.traits_json.len()
        + wit.metadata_public_json.len()
        + wit.metadata_admin_json.len();
    let report = run(loaded, plugin, input, |store| {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .kith_plugin_migration()
            .call_verify(store, &ctx, &wit)
    })
    .map_err(|fault| without_secrets(fault, attempt))?;
    match report.output {
        Ok(m::Verdict::PasswordMatch) => Ok(report.with_output(Verdict::PasswordMatch)),
        Ok(m::Verdict::NoMatch) => Ok(report.with_output(Verdict::NoMatch)),
        Err(ref message) => {
            // An error is a sentence for the operator; past the kind's output limit it is cut
            // (after the secrets are blotted out, so no part of one survives the cut).
            let mut message = redact(message, attempt);
            let mut cut = message.len().min(plugin.limits().max_output_bytes);
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            Err(plugin.fault(FaultKind::Failed, message))
        }
    }
}

/// A fault's message with the attempt's password and legacy hash blotted out: a plugin's
/// error string, panic message or output may echo them, and a fault is shown, logged and
/// audited.
fn without_secrets(mut fault: Fault, attempt: &MigrationAttempt) -> Fault {
    fault.message = redact(&fault.message, attempt);
    fault
}

fn redact(text: &str, attempt: &MigrationAttempt) -> String {
    let mut text = text.to_string();
    for secret in [&attempt.password, &attempt.legacy_hash] {
        if !secret.is_empty() {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{Api, Kind, check_file_name, export_of};

    #[test]
    fn the_expected_signatures_in_messages_are_the_wit_s_own() {
        let wit = include_str!("../../plugins/wit/kith-plugin.wit");
        let wit_v0_2 = include_str!("../../plugins/wit-0.2/kith-plugin.wit");
        let (_, _, expected) = export_of(Kind::InviteDelivery, Api::V0_2);
        assert!(wit_v0_2.contains(expected), "{expected}");
        for kind in [
            Kind::TraitValidator,
            Kind::InviteDelivery,
            Kind::ImportMapper,
            Kind::PasswordMigration,
        ] {
            let (interface, name, expected) = export_of(kind, Api::V0_1);
            assert!(wit.contains(expected), "{expected}");
            assert!(expected.starts_with(&format!("{name}: func(")));
            assert!(interface.starts_with(kind.export_interface()));
        }
    }

    #[test]
    fn outbox_file_names_cannot_leave_the_outbox() {
        assert!(check_file_name("invite-1-ada@example.org.eml").is_ok());
        for name in [
            "",
            "../../.ssh/authorized_keys",
            "/etc/passwd",
            "a/b.eml",
            "a\\b.eml",
            ".hidden",
            "nul\0byte",
            "line\nbreak",
            "c:evil",
            &"x".repeat(129),
        ] {
            assert!(check_file_name(name).is_err(), "{name:?} was accepted");
        }
    }
}
