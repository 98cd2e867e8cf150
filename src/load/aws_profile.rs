//! AWS shared-config profiles (`AWS_PROFILE`, `~/.aws/credentials`,
//! `~/.aws/config`) for `s3://` inputs: `object_store` reads only the
//! environment, so a laptop signed in through a profile would otherwise
//! fall through to instance metadata and time out.
//!
//! What is followed: static keys (`aws_access_key_id`,
//! `aws_secret_access_key`, `aws_session_token`), `credential_process` (a
//! command printing the credentials as JSON, which is also how SSO and
//! assume-role setups hand out keys), `region` and `endpoint_url`.
//! Profiles that need the AWS SDK itself (`role_arn`, `sso_*`, `web identity`)
//! are refused with the command that exports their credentials. Credentials
//! in the environment win over any profile, as in the AWS SDKs.
//!
//! The files are read here with a small reader of AWS's own INI dialect
//! (sections `[name]` / `[profile name]`, `key = value`, `#`/`;` comments,
//! indented sub-properties ignored): the SDK crate that reads them is the
//! whole AWS SDK.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a profile gives an S3 store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// The profile to apply, if any: `AWS_PROFILE` (or `AWS_DEFAULT_PROFILE`),
/// else `default` when the files have one. `None` when the environment
/// holds credentials (or web identity, or container credentials) itself.
pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Profile>, String> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID").is_some()
        || set("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
    {
        return Ok(None);
    }
    let asked = set("AWS_PROFILE").or_else(|| set("AWS_DEFAULT_PROFILE"));
    let name = asked.clone().unwrap_or_else(|| "default".into());
    let home = set("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        set(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config = file("AWS_CONFIG_FILE", "config");
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let mut found = false;
    // The config file's keys, then the credentials file's over them.
    for (path, section) in [
        (&config, config_section(&name)),
        (&credentials, name.clone()),
    ] {
        let Some(path) = path else { continue };
        let Some(text) = read(path)? else { continue };
        if let Some(s) = parse(&text).remove(&section) {
            found = true;
            keys.extend(s);
        }
    }
    if !found {
        return match asked {
            Some(p) => Err(format!(
                "AWS_PROFILE={p}: no such profile in {} or {}",
                shown(&credentials),
                shown(&config)
            )),
            None => Ok(None),
        };
    }
    let mut profile = Profile {
        name: name.clone(),
        access_key_id: keys.get("aws_access_key_id").cloned(),
        secret_access_key: keys.get("aws_secret_access_key").cloned(),
        session_token: keys.get("aws_session_token").cloned(),
        region: keys.get("region").cloned(),
        endpoint_url: keys.get("endpoint_url").cloned(),
    };
    if profile.access_key_id.is_none() {
        if let Some(command) = keys.get("credential_process") {
            credential_process(&mut profile, command)?;
        } else if let Some(how) = [
            "role_arn",
            "sso_session",
            "sso_start_url",
            "web_identity_token_file",
        ]
        .into_iter()
        .find(|k| keys.contains_key(*k))
        {
            return Err(format!(
                "AWS profile `{name}` signs in with `{how}`, which diffgate does not follow itself; \
                 export its credentials first: eval \"$(aws configure export-credentials --profile {name} --format env)\""
            ));
        }
    }
    Ok(Some(profile))
}

fn config_section(name: &str) -> String {
    if name == "default" {
        "default".into()
    } else {
        format!("profile {name}")
    }
}

fn shown(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map_or("~/.aws/…".into(), |p| p.display().to_string())
}

fn read(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Sections of an AWS config or credentials file, each its keys.
fn parse(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        // An indented line continues the key above (a sub-property such as
        // `s3 =` followed by `  addressing_style = path`): not followed.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            let v = v.trim();
            // A comment after a value starts with whitespace and `#`/`;`.
            let v = v
                .find([' ', '\t'])
                .and_then(|i| v[i..].trim_start().starts_with(['#', ';']).then(|| &v[..i]))
                .unwrap_or(v);
            out.get_mut(section)
                .map(|s| s.insert(k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// Run a profile's `credential_process` and take the keys it prints.
fn credential_process(profile: &mut Profile, command: &str) -> Result<(), String> {
    let name = &profile.name;
    let words = shlex::split(command)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            format!("AWS profile `{name}`: credential_process cannot be split into words")
        })?;
    let out = std::process::Command::new(&words[0])
        .args(&words[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "AWS profile `{name}`: credential_process {:?}: {e}",
                words[0]
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "AWS profile `{name}`: credential_process {:?} failed ({}): {}",
            words[0],
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Printed {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    }
    let printed: Printed = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "AWS profile `{name}`: credential_process {:?} did not print credentials JSON \
             (Version, AccessKeyId, SecretAccessKey): {e}",
            words[0]
        )
    })?;
    profile.access_key_id = Some(printed.access_key_id);
    profile.secret_access_key = Some(printed.secret_access_key);
    profile.session_token = printed.session_token;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    }

    fn files(credentials: &str, config: &str) -> (tempfile::TempDir, Vec<(&'static str, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("credentials");
        let g = dir.path().join("config");
        std::fs::write(&c, credentials).unwrap();
        std::fs::write(&g, config).unwrap();
        let env = vec![
            ("AWS_SHARED_CREDENTIALS_FILE", c.display().to_string()),
            ("AWS_CONFIG_FILE", g.display().to_string()),
        ];
        (dir, env)
    }

    #[test]
    fn a_named_profile_gives_keys_from_credentials_and_region_from_config() {
        let (_d, mut env) = files(
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = d\n\n\
             # staging\n[staging]\naws_access_key_id=AKSTAGING\naws_secret_access_key = s3cr3t ; note\n\
             aws_session_token = tok\n",
            "[profile staging]\nregion = eu-west-1\ns3 =\n  addressing_style = path\n\
             endpoint_url = http://127.0.0.1:9000\n",
        );
        env.push(("AWS_PROFILE", "staging".into()));
        let p = resolve(&env_of(env)).unwrap().unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("AKSTAGING"));
        assert_eq!(p.secret_access_key.as_deref(), Some("s3cr3t"));
        assert_eq!(p.session_token.as_deref(), Some("tok"));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn the_environment_wins_and_default_applies_only_when_present() {
        let (_d, env) = files(
            "[default]\naws_access_key_id = AK\naws_secret_access_key = x\n",
            "",
        );
        let mut with_keys = env.clone();
        with_keys.push(("AWS_ACCESS_KEY_ID", "FROMENV".into()));
        assert_eq!(resolve(&env_of(with_keys)).unwrap(), None);
        let p = resolve(&env_of(env)).unwrap().unwrap();
        assert_eq!(p.name, "default");
        let (_d, env) = files("", "");
        assert_eq!(resolve(&env_of(env)).unwrap(), None);
    }

    #[test]
    fn a_missing_or_sdk_only_profile_is_a_message_without_secrets() {
        let (_d, mut env) = files(
            "[base]\naws_access_key_id = AKBASE\naws_secret_access_key = hidden\n",
            "[profile admin]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n",
        );
        env.push(("AWS_PROFILE", "nope".into()));
        let e = resolve(&env_of(env.clone())).unwrap_err();
        assert!(e.contains("AWS_PROFILE=nope: no such profile"), "{e}");
        env.pop();
        env.push(("AWS_PROFILE", "admin".into()));
        let e = resolve(&env_of(env)).unwrap_err();
        assert!(
            e.contains("role_arn") && e.contains("export-credentials --profile admin"),
            "{e}"
        );
        assert!(!e.contains("hidden"), "{e}");
    }

    #[test]
    fn credential_process_output_is_taken_and_its_failure_named() {
        let (_d, mut env) = files(
            "",
            "[profile sso]\ncredential_process = printf '{\"Version\": 1, \"AccessKeyId\": \"AKPROC\", \"SecretAccessKey\": \"p\", \"SessionToken\": \"t\"}'\n\
             [profile broken]\ncredential_process = false\n",
        );
        env.push(("AWS_PROFILE", "sso".into()));
        let p = resolve(&env_of(env.clone())).unwrap().unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("AKPROC"));
        assert_eq!(p.session_token.as_deref(), Some("t"));
        env.pop();
        env.push(("AWS_PROFILE", "broken".into()));
        let e = resolve(&env_of(env)).unwrap_err();
        assert!(e.contains("credential_process \"false\" failed"), "{e}");
    }
}
