//! The three worlds' calls: their inputs, their outputs, and the checks each output must
//! pass before the host acts on it (sizes, counts, outbox file names, JSON shape).
//!
//! The call itself (fresh store, limits, faults) is `call::run`; this file only converts
//! between kith's types and the generated bindings.

use super::call::run;
use super::limits::Limits;
use super::runtime::bindings::delivery as d;
use super::runtime::bindings::validator::kith::plugin::types::{
    CallContext, FieldError as WitFieldError,
};
use super::runtime::{Loaded, Pre};
use super::{Fault, FaultKind, FieldError, Plugin, Report};
use serde::Serialize;

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

/// What a delivery plugin asks the host to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", content = "files", rename_all = "snake_case")]
pub enum Plan {
    Outbox(Vec<OutboxFile>),
    Nothing,
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
    let Pre::Delivery(pre) = &loaded.pre else {
        return Err(plugin.fault(FaultKind::Trap, "not an invite delivery plugin"));
    };
    let ctx = context(plugin, now_unix_ms);
    let wit_invite = d::exports::kith::plugin::delivery::Invite {
        recipient: invite.recipient.clone(),
        recovery_link: invite.recovery_link.clone(),
        recovery_code: invite.recovery_code.clone(),
        expires_unix_ms: invite.expires_unix_ms,
        traits_json: invite.traits_json.clone(),
    };
    let input = invite.recipient.len()
        + invite.recovery_link.len()
        + invite.recovery_code.len()
        + invite.traits_json.len();
    let report = run(loaded, plugin, input, |store| {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .kith_plugin_delivery()
            .call_deliver(store, &ctx, &wit_invite)
    })?;
    let limits = plugin.limits();
    let plan = match &report.output {
        Err(message) => {
            let message: String = message.chars().take(1024).collect();
            return Err(plugin.fault(FaultKind::Failed, message));
        }
        Ok(d::exports::kith::plugin::delivery::Plan::Nothing) => Plan::Nothing,
        Ok(d::exports::kith::plugin::delivery::Plan::Outbox(files)) => {
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
            Plan::Outbox(
                files
                    .iter()
                    .map(|f| OutboxFile {
                        name: f.name.clone(),
                        content_type: f.content_type.clone(),
                        body: f.body.clone(),
                    })
                    .collect(),
            )
        }
    };
    Ok(report.with_output(plan))
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
) -> Result<Report<Result<serde_json::Value, Vec<FieldError>>>, Fault> {
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
    let output = match &report.output {
        Ok(body) => {
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
            match serde_json::from_str::<serde_json::Value>(body) {
                Ok(value) if value.is_object() => Ok(value),
                _ => {
                    return Err(plugin.fault(
                        FaultKind::BadOutput,
                        "returned something that is not a JSON object (a createIdentityBody)",
                    ));
                }
            }
        }
        Err(errors) => Err(field_errors(plugin, &limits, errors.clone())?),
    };
    Ok(report.with_output(output))
}

#[cfg(test)]
mod tests {
    use super::check_file_name;

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
