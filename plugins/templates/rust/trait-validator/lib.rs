//! A kith trait validator: kith calls `validate` after JSON-Schema validation whenever an
//! identity is created, updated or imported, and refuses the write when it answers with field
//! errors. This one refuses the usernames that its `reserved` config lists.

wit_bindgen::generate!({
    path: "wit",
    world: "trait-validator",
    generate_all,
});

mod kit;

use exports::kith::plugin::validator::Guest;
use kith::plugin::types::{CallContext, FieldError};
use serde_json::Value;

struct Plugin;

impl Guest for Plugin {
    fn validate(
        ctx: CallContext,
        schema_id: String,
        traits_json: String,
    ) -> Result<(), Vec<FieldError>> {
        kit::install_panic_hook();
        kit::debug!("checking an identity of schema {schema_id}");
        let traits: Value = serde_json::from_str(&traits_json).map_err(|e| {
            vec![FieldError {
                pointer: String::new(),
                code: "traits_not_json".into(),
                message: format!("the traits are not JSON: {e}"),
            }]
        })?;
        let Some(username) = traits.get("username").and_then(Value::as_str) else {
            return Ok(());
        };
        let reserved = kit::config_list(&ctx.config, "reserved");
        if reserved
            .iter()
            .any(|r| r.eq_ignore_ascii_case(username.trim()))
        {
            // `pointer` is an RFC 6901 pointer into the traits.
            return Err(vec![FieldError {
                pointer: "/username".into(),
                code: "reserved".into(),
                message: format!("the username {username} is reserved"),
            }]);
        }
        Ok(())
    }
}

export!(Plugin);
