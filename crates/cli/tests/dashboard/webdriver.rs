//! A headless Chromium driven over the W3C WebDriver protocol: `chromedriver` on a free local
//! port, one session, commands as JSON over HTTP (ureq), every call and every wait bounded.
//!
//! By hand rather than with a WebDriver crate: the handful of commands the test needs are a
//! few lines each over the HTTP client the CLI already links, where `fantoccini` or
//! `thirtyfour` bring hyper and a second async stack into the build.

use base64::Engine as _;
use serde_json::{Value, json};
use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The key of an element reference in WebDriver answers (W3C WebDriver §12.1).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The longest any one WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A browser session; the driver process is killed when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A command-line program, or a panic naming the package that provides it.
fn program(name: &str, package: &str) -> String {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    match found {
        Some(path) => path.to_string_lossy().into_owned(),
        None => panic!("{name} is not installed (Debian package {package}); scripts/test installs it"),
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a 1366×768 window.
    pub fn start(log: &std::path::Path) -> Self {
        let chromium = program("chromium", "chromium");
        let driver_bin = program("chromedriver", "chromium-driver");
        let port = free_port();
        let log_file = std::fs::File::create(log).unwrap();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(COMMAND_TIMEOUT))
            .build()
            .into();
        let root = format!("http://127.0.0.1:{port}");
        let mut browser = Self { driver, base: String::new(), agent };
        let ready = wait_for(Duration::from_secs(30), || {
            browser.raw("GET", &format!("{root}/status"), None).ok().filter(|v| v["value"]["ready"] == true)
        });
        assert!(ready.is_some(), "chromedriver did not become ready on port {port}");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,768", "--force-device-scale-factor=1", "--no-first-run"]
            }
        }}});
        let session = browser.raw("POST", &format!("{root}/session"), Some(caps)).expect("new session");
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_owned();
        browser.base = format!("{root}/session/{id}");
        browser
    }

    fn raw(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let response = match method {
            "GET" => self.agent.get(url).call(),
            "DELETE" => self.agent.delete(url).call(),
            _ => self
                .agent
                .post(url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut response = response.map_err(|e| format!("{method} {url}: {e}"))?;
        let text = response.body_mut().read_to_string().map_err(|e| format!("{method} {url}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{method} {url}: {e}: {text}"))
    }

    /// A command of the session: its `value`, or a panic with WebDriver's error.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer =
            self.raw(method, &format!("{}{path}", self.base), body).unwrap_or_else(|e| panic!("{e}"));
        let value = answer["value"].clone();
        if value.get("error").is_some() {
            panic!("WebDriver {method} {path}: {value}");
        }
        value
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page: what it returns.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// The element `css` selects, if any, as a WebDriver reference.
    pub fn find(&self, css: &str) -> Option<Value> {
        let answer = self
            .raw(
                "POST",
                &format!("{}/element", self.base),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .ok()?;
        let id = answer["value"].get(ELEMENT)?.as_str()?.to_owned();
        Some(json!({ ELEMENT: id }))
    }

    fn id(element: &Value) -> String {
        element[ELEMENT].as_str().expect("an element reference").to_owned()
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css).unwrap_or_else(|| panic!("no element {css}"));
        self.cmd("POST", &format!("/element/{}/click", Self::id(&e)), None);
    }

    /// Clears the input `css` and types `text` into it, as a user would.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).unwrap_or_else(|| panic!("no element {css}"));
        self.cmd("POST", &format!("/element/{}/clear", Self::id(&e)), None);
        self.cmd("POST", &format!("/element/{}/value", Self::id(&e)), Some(json!({ "text": text })));
    }

    /// The rendered text of `css`, if it exists. A live update may replace the element between
    /// finding and reading it (WebDriver's "stale element reference"): it is found again.
    pub fn text(&self, css: &str) -> Option<String> {
        for _ in 0..5 {
            let e = self.find(css)?;
            let url = format!("{}/element/{}/text", self.base, Self::id(&e));
            let answer = self.raw("GET", &url, None).unwrap_or_else(|e| panic!("{e}"));
            let value = &answer["value"];
            match value.get("error").and_then(Value::as_str) {
                Some("stale element reference") => continue,
                Some(_) => panic!("WebDriver text of {css}: {value}"),
                None => return value.as_str().map(str::to_owned),
            }
        }
        panic!("{css} was replaced five times in a row while its text was read");
    }

    /// The element's rectangle in the viewport, CSS pixels: x, y, width, height. WebDriver's
    /// element rect is relative to the document; the page's scroll offsets are taken off, so
    /// the rectangle is where a screenshot of the viewport shows the element.
    pub fn rect_in_viewport(&self, css: &str) -> (f64, f64, f64, f64) {
        let e = self.find(css).unwrap_or_else(|| panic!("no element {css}"));
        let r = self.cmd("GET", &format!("/element/{}/rect", Self::id(&e)), None);
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("rect without {k}: {r}"));
        let scroll = self.js("return [window.scrollX, window.scrollY];", json!([]));
        let (sx, sy) = (scroll[0].as_f64().unwrap_or(0.0), scroll[1].as_f64().unwrap_or(0.0));
        (f("x") - sx, f("y") - sy, f("width"), f("height"))
    }

    /// A screenshot of the viewport, as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64 text")).expect("base64")
    }

    /// Waits, at most `limit`, until `cond` gives `Some`; panics naming `what` otherwise.
    pub fn wait<T>(&self, limit: Duration, what: &str, cond: impl FnMut() -> Option<T>) -> T {
        wait_for(limit, cond).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
    }
}

/// Polls `cond` every 100 ms for at most `limit`.
fn wait_for<T>(limit: Duration, mut cond: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = cond() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
