//! The web dashboard in a real headless browser (Debian `chromium` and `chromium-driver`, over
//! WebDriver) on a devnet of four validator processes: the page loads and shows the network,
//! a number lookup shows the history and the ENUM answer the DNS server gives, a wrong admin
//! token is refused, the donor logs in and releases an open order, the order's new state arrives
//! over the event stream without a reload, and screenshots before and after show it.

mod support;
#[path = "dashboard/webdriver.rs"]
mod webdriver;

use std::time::Duration;
use support::{Net, get_text, wait_until};
use webdriver::Browser;

const NUMBER: &str = "+4915000000001";
const WAIT: Duration = Duration::from_secs(60);

/// The badge colours of `app.css` (`--requested`, `--released`).
const REQUESTED_RGB: [u8; 3] = [0x8a, 0x5a, 0x00];
const RELEASED_RGB: [u8; 3] = [0x0b, 0x5c, 0xad];

/// A decoded screenshot: width, height and RGBA pixels.
struct Shot {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

fn decode(png_bytes: &[u8]) -> Shot {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("screenshot colour type {other:?}"),
    };
    let mut rgba = Vec::with_capacity((info.width * info.height * 4) as usize);
    for row in buf[..info.buffer_size()].chunks(info.line_size) {
        for p in row[..info.width as usize * px].chunks(px) {
            rgba.extend_from_slice(&[p[0], p[1], p[2], if px == 4 { p[3] } else { 255 }]);
        }
    }
    Shot { width: info.width, height: info.height, rgba }
}

impl Shot {
    /// The pixels inside a rectangle (CSS pixels at scale 1), clipped to the image.
    fn pixels(&self, (x, y, w, h): (f64, f64, f64, f64)) -> Vec<[u8; 3]> {
        let (x0, y0) = (x.max(0.0) as u32, y.max(0.0) as u32);
        let (x1, y1) = (((x + w) as u32).min(self.width), ((y + h) as u32).min(self.height));
        let mut out = Vec::new();
        for yy in y0..y1 {
            for xx in x0..x1 {
                let i = ((yy * self.width + xx) * 4) as usize;
                out.push([self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]);
            }
        }
        out
    }
}

/// The share of `pixels` within a small distance of `rgb`.
fn share_of(pixels: &[[u8; 3]], rgb: [u8; 3]) -> f64 {
    let near = pixels.iter().filter(|p| p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 12)).count();
    near as f64 / pixels.len().max(1) as f64
}

#[test]
fn the_dashboard_shows_a_number_and_releases_an_order_live_in_a_real_browser() {
    let mut net = Net::new(4);
    net.start_all();
    wait_until(Duration::from_secs(90), "the devnet to commit", || net.height(0).is_some_and(|h| h >= 2));
    // an open order of OPA's number to OPB, asked through node 1; node 0 (OPA) is the donor
    let port = net.request_port(NUMBER, 1);
    let node = net.url(0);
    let token = std::fs::read_to_string(net.layout.nodes[0].dir.join("admin.token")).unwrap();
    let token = token.trim().to_owned();
    let shots = net._tmp.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let browser = Browser::start(&net._tmp.path().join("chromedriver.log"));
    // 1. the page loads and shows the network
    browser.goto(&format!("http://{node}/"));
    browser.js("window.__npchainMarker = 'same page'; return true;", serde_json::json!([]));
    let height = browser.wait(WAIT, "the height shown", || {
        browser.text("#st-height").and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok())
    });
    assert!(height >= 2, "height {height}");
    let state_hash = browser.text("#st-hash").unwrap();
    assert_eq!(state_hash.len(), 64, "{state_hash}");
    // every validator signs: four rows, each live, with its operator
    browser.wait(WAIT, "four live validators", || {
        let rows: Vec<String> =
            (1..=4).filter_map(|i| browser.text(&format!("#validators tbody tr:nth-child({i})"))).collect();
        (rows.len() == 4 && rows.iter().all(|r| r.contains("live") && !r.contains("not live"))).then_some(())
    });
    let validators = browser.text("#validators tbody").unwrap();
    for op in ["OPA", "OPB", "OPC", "OPD"] {
        assert!(validators.contains(op), "{validators}");
    }
    assert!(browser.text("#st-peers").unwrap().contains("of 3"), "{:?}", browser.text("#st-peers"));
    // the open order is listed, requested, with the donor's deadline counting down
    let row = format!("#order-{port}");
    browser.wait(WAIT, "the order listed", || browser.find(&format!("{row}[data-state=requested]")));
    let deadline = browser.text(&format!("{row} time")).unwrap();
    assert!(deadline.starts_with("in "), "{deadline}");
    // no actions before the login
    assert!(browser.find(&format!("{row} button[data-action=release]")).is_none());

    // 2. a number lookup: the history and the ENUM answer, as dig gets it from the DNS server
    browser.type_into("#number", NUMBER);
    browser.click("#lookup-form button");
    let naptr =
        browser.wait(WAIT, "the ENUM answer shown", || browser.text("#lk-naptr").filter(|t| !t.is_empty()));
    let name = NUMBER[1..].chars().rev().map(String::from).collect::<Vec<_>>().join(".") + ".e164.arpa";
    let dig = net.dig(0, "NAPTR", &name);
    assert_eq!(dig, vec![naptr.clone()], "the dashboard's NAPTR is the zone's");
    assert!(naptr.contains(&format!("!^.*$!tel:{NUMBER};npdi!")), "{naptr}");
    let history = browser.text("#history tbody").unwrap();
    assert!(history.contains("subscriber key bound by OPA"), "{history}");
    assert!(history.contains("port requested"), "{history}");
    assert_eq!(browser.text("#lk-serving").unwrap(), "OPA");
    // a malformed number: the API's refusal, quoting the input
    browser.type_into("#number", "+49 15x");
    browser.click("#lookup-form button");
    let refusal =
        browser.wait(WAIT, "the refusal shown", || browser.text("#lookup-error").filter(|t| !t.is_empty()));
    assert!(refusal.contains("\"+49 15x\""), "{refusal}");

    // a wrong token is refused with the API's message, and nothing is shown to act with
    browser.type_into("#token", "not-the-token");
    browser.click("#login-form button");
    let refused = browser.wait(WAIT, "the login refused", || {
        browser.text("#login-state").filter(|t| t.starts_with("Refused"))
    });
    assert!(
        refused.contains("the admin token is not this node's") && refused.contains("wrong_token"),
        "{refused}"
    );
    assert!(browser.find(&format!("{row} button[data-action=release]")).is_none());

    // 3. the donor logs in and releases the order
    browser.type_into("#token", &token);
    browser.click("#login-form button");
    browser.wait(WAIT, "the release button", || browser.find(&format!("{row} button[data-action=release]")));
    let badge = format!("{row} .badge");
    // scrolled into view, so the screenshot of the viewport shows it
    browser.js(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'}); return true;",
        serde_json::json!([badge]),
    );
    let before_png = browser.screenshot();
    let before_rect = browser.rect_in_viewport(&badge);
    std::fs::write(shots.join("before-release.png"), &before_png).unwrap();
    browser.click(&format!("{row} button[data-action=release]"));

    // 4. the new state arrives without a reload: the DOM changes, the page is the same one
    let sent = browser.wait(WAIT, "the release sent", || {
        browser.text("#action-result").filter(|t| t.contains("submitted") || t.contains("refused"))
    });
    assert!(sent.contains("submitted as transaction"), "{sent}");
    browser.wait(WAIT, "the order released in the page", || {
        browser.find(&format!("{row}[data-state=released]"))
    });
    assert_eq!(
        browser.js("return window.__npchainMarker || null;", serde_json::json!([])),
        "same page",
        "the page navigated"
    );
    // the change is said in the live region, for a screen reader
    let live = browser.js("return document.getElementById('announce').textContent;", serde_json::json!([]));
    assert!(live.as_str().is_some_and(|t| t.contains("is now released")), "{live}");
    assert!(get_text(node, &format!("/v1/ports/{port}")).contains("\"state\":\"released\""));
    // the token is in no URL the page loaded or showed
    let urls = browser.js(
        "return performance.getEntries().map(e => e.name).concat([location.href, document.referrer]);",
        serde_json::json!([]),
    );
    let urls: Vec<String> = serde_json::from_value(urls).unwrap();
    assert!(urls.iter().any(|u| u.contains("/v1/operator")), "the login's request is among them: {urls:?}");
    assert!(urls.iter().all(|u| !u.contains(&token)), "{urls:?}");

    // 5. screenshots before and after: the badge's pixels changed from the requested colour
    // to the released one
    browser.js(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'}); return true;",
        serde_json::json!([badge]),
    );
    let after_png = browser.screenshot();
    let after_rect = browser.rect_in_viewport(&badge);
    std::fs::write(shots.join("after-release.png"), &after_png).unwrap();
    let (before, after) = (decode(&before_png), decode(&after_png));
    assert_eq!((before.width, before.height), (after.width, after.height));
    let (was, now) = (before.pixels(before_rect), after.pixels(after_rect));
    assert!(!was.is_empty() && !now.is_empty(), "the badge is inside the screenshot: {before_rect:?}");
    assert!(
        share_of(&was, REQUESTED_RGB) > 0.5,
        "before: {:.2} requested-coloured",
        share_of(&was, REQUESTED_RGB)
    );
    assert!(
        share_of(&now, RELEASED_RGB) > 0.5,
        "after: {:.2} released-coloured",
        share_of(&now, RELEASED_RGB)
    );
    assert!(share_of(&now, REQUESTED_RGB) < 0.05);
    assert_eq!(browser.text(&badge).unwrap(), "released");

    // the statistics of the last 30 days, charted from `GET /v1/stats`: the one request
    browser.click("#stats-form button");
    let caption = browser.wait(WAIT, "the statistics charted", || {
        browser.text("#stats-charts figcaption").filter(|t| t.contains("1 requested"))
    });
    assert!(caption.contains("0 completed"), "{caption}");
    assert!(browser.find("#stats-charts svg rect").is_some(), "a bar is drawn");
    assert!(browser.find("#stats-error:not([hidden])").is_none(), "{:?}", browser.text("#stats-error"));

    // logging out forgets the token and hides the actions
    browser.click("#logout");
    let stored = browser.js("return sessionStorage.getItem('npchain-admin-token');", serde_json::json!([]));
    assert!(stored.is_null(), "{stored}");
    assert!(browser.text("#login-state").unwrap().starts_with("Logged out"));
    assert!(browser.find(&format!("{row} button")).is_none());
}
