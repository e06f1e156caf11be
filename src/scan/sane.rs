//! SANE scanner source: a thin FFI over libsane (`libsane.so.1`, Debian `libsane1`), loaded
//! with dlopen when a scan starts, so builds and the demo work where SANE is not installed.
//! Through SANE's backends this reaches USB and network scanners, and eSCL/AirScan and WSD
//! scanners through `sane-airscan`.
//!
//! A scan: open the device (the configured one, else `SANE_DEFAULT_DEVICE`, else the first
//! found), set mode / depth, resolution, source and scan area from [`ScanOptions`] (snapped to
//! what the device offers), then `sane_start` / `sane_read` page by page until the feeder is
//! empty (or once for the glass). Each page is handed over as a row stream the moment
//! `sane_start` succeeds and its lines are read from the device as the consumer asks for them,
//! so no page raster is ever held (see [`super`]). The cancel flag is checked between reads; `sane_cancel` stops the
//! device. SANE is not thread-safe across handles, so every call holds one process-wide lock;
//! callers run scans on a blocking thread, never the UI thread.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use libloading::Library;

mod caps;
pub use caps::{SaneApplied, SaneRecord};

use super::{
    row_bytes, ColorMode, PageFn, PageInfo, PageRows, ScanError, ScanOptions, ScanSource, Scanner,
};

type Status = c_int;
type Handle = *mut c_void;

const STATUS_GOOD: Status = 0;
const STATUS_CANCELLED: Status = 2;
const STATUS_EOF: Status = 5;
const STATUS_NO_DOCS: Status = 7;

const TYPE_BOOL: c_int = 0;
const TYPE_INT: c_int = 1;
const TYPE_FIXED: c_int = 2;
const TYPE_STRING: c_int = 3;

const CONSTRAINT_RANGE: c_int = 1;
const CONSTRAINT_WORD_LIST: c_int = 2;
const CONSTRAINT_STRING_LIST: c_int = 3;

const ACTION_GET: c_int = 0;
const ACTION_SET: c_int = 1;

const CAP_SOFT_SELECT: c_int = 1;
const CAP_INACTIVE: c_int = 32;

const FRAME_GRAY: c_int = 0;
const FRAME_RGB: c_int = 1;

const FIXED_SCALE: f64 = 65536.0;

#[repr(C)]
struct RawDevice {
    name: *const c_char,
    vendor: *const c_char,
    model: *const c_char,
    kind: *const c_char,
}

#[repr(C)]
struct RawRange {
    min: c_int,
    max: c_int,
    quant: c_int,
}

#[repr(C)]
struct RawOption {
    name: *const c_char,
    title: *const c_char,
    desc: *const c_char,
    kind: c_int,
    unit: c_int,
    size: c_int,
    cap: c_int,
    constraint_type: c_int,
    constraint: *const c_void,
}

#[repr(C)]
#[derive(Default)]
struct RawParameters {
    format: c_int,
    last_frame: c_int,
    bytes_per_line: c_int,
    pixels_per_line: c_int,
    lines: c_int,
    depth: c_int,
}

type AuthCallback = Option<unsafe extern "C" fn(*const c_char, *mut c_char, *mut c_char)>;

/// The libsane entry points used here.
struct Api {
    _lib: Library,
    get_devices: unsafe extern "C" fn(*mut *const *const RawDevice, c_int) -> Status,
    open: unsafe extern "C" fn(*const c_char, *mut Handle) -> Status,
    close: unsafe extern "C" fn(Handle),
    get_option_descriptor: unsafe extern "C" fn(Handle, c_int) -> *const RawOption,
    control_option: unsafe extern "C" fn(Handle, c_int, c_int, *mut c_void, *mut c_int) -> Status,
    get_parameters: unsafe extern "C" fn(Handle, *mut RawParameters) -> Status,
    start: unsafe extern "C" fn(Handle) -> Status,
    read: unsafe extern "C" fn(Handle, *mut u8, c_int, *mut c_int) -> Status,
    cancel: unsafe extern "C" fn(Handle),
    strstatus: unsafe extern "C" fn(Status) -> *const c_char,
}

// SAFETY: the function pointers are plain C entry points; every call goes through `LOCK`.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

/// Serialises all SANE calls of the process.
static LOCK: Mutex<()> = Mutex::new(());
static API: OnceLock<Result<Api, String>> = OnceLock::new();

fn load() -> Result<Api, String> {
    let lib = ["libsane.so.1", "libsane.so"]
        .iter()
        // SAFETY: loading libsane runs its constructors, which only set up SANE's own state.
        .find_map(|name| unsafe { Library::new(name) }.ok())
        .ok_or("libsane.so.1 is not installed (Debian package libsane1)")?;
    // SAFETY: the symbols are looked up with the signatures of sane/sane.h (SANE 1.x).
    unsafe {
        let init: unsafe extern "C" fn(*mut c_int, AuthCallback) -> Status =
            *lib.get(b"sane_init\0").map_err(|e| e.to_string())?;
        macro_rules! sym {
            ($name:literal) => {
                *lib.get(concat!($name, "\0").as_bytes())
                    .map_err(|e| format!("{}: {e}", $name))?
            };
        }
        let api = Api {
            get_devices: sym!("sane_get_devices"),
            open: sym!("sane_open"),
            close: sym!("sane_close"),
            get_option_descriptor: sym!("sane_get_option_descriptor"),
            control_option: sym!("sane_control_option"),
            get_parameters: sym!("sane_get_parameters"),
            start: sym!("sane_start"),
            read: sym!("sane_read"),
            cancel: sym!("sane_cancel"),
            strstatus: sym!("sane_strstatus"),
            _lib: lib,
        };
        let mut version = 0;
        let status = init(&mut version, None);
        if status != STATUS_GOOD {
            return Err(format!("sane_init failed: {}", api.status_text(status)));
        }
        tracing::info!(
            major = version >> 24,
            minor = (version >> 16) & 0xff,
            "libsane loaded"
        );
        Ok(api)
    }
}

fn api() -> Result<&'static Api, ScanError> {
    API.get_or_init(load)
        .as_ref()
        .map_err(|e| ScanError::Device(e.clone()))
}

impl Api {
    fn status_text(&self, status: Status) -> String {
        // SAFETY: sane_strstatus returns a static string (or NULL).
        unsafe { cstr((self.strstatus)(status)) }.unwrap_or_else(|| format!("status {status}"))
    }

    fn check(&self, status: Status, what: &str) -> Result<(), ScanError> {
        match status {
            STATUS_GOOD => Ok(()),
            STATUS_CANCELLED => Err(ScanError::Cancelled),
            s => Err(ScanError::Device(format!(
                "{what}: {}",
                self.status_text(s)
            ))),
        }
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the call.
unsafe fn cstr(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
}

/// A scanner found by SANE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaneDevice {
    /// E.g. `test:0`, `airscan:e0:Brother MFC`, `escl:https://…`.
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub kind: String,
}

/// The scanners SANE can reach now.
pub fn devices() -> Result<Vec<SaneDevice>, ScanError> {
    let api = api()?;
    let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let mut list: *const *const RawDevice = std::ptr::null();
    // SAFETY: SANE fills `list` with a NULL-terminated array valid until the next call, which
    // the lock prevents while it is read.
    unsafe {
        api.check((api.get_devices)(&mut list, 0), "listing scanners")?;
        let mut out = Vec::new();
        let mut i = 0;
        while !list.is_null() && !(*list.add(i)).is_null() {
            let d = &**list.add(i);
            out.push(SaneDevice {
                name: cstr(d.name).unwrap_or_default(),
                vendor: cstr(d.vendor).unwrap_or_default(),
                model: cstr(d.model).unwrap_or_default(),
                kind: cstr(d.kind).unwrap_or_default(),
            });
            i += 1;
        }
        Ok(out)
    }
}

/// An option of the open device.
#[derive(Debug, Clone)]
struct Opt {
    index: c_int,
    kind: c_int,
    /// The descriptor's `size`: for a string option, the bytes of the buffer the backend
    /// reads (and may write back), its terminating NUL included.
    size: c_int,
    cap: c_int,
    strings: Vec<String>,
    /// Allowed numbers (already converted from SANE_Fixed).
    words: Vec<f64>,
    range: Option<(f64, f64)>,
    /// The range's quantisation (0 = any value).
    step: f64,
}

/// The buffer for setting string option `name` to `value`: exactly the descriptor's `size`
/// bytes, `value` followed by zeros. SANE backends copy a string value with `strcpy` into a
/// buffer of `size` bytes and may write the value back into ours, so a value must leave room
/// for its NUL within `size`; a longer one is refused here and never reaches the backend.
fn string_buffer(name: &str, value: &str, size: c_int) -> Result<Box<[u8]>, ScanError> {
    let size = usize::try_from(size).unwrap_or(0);
    if value.len() >= size {
        return Err(ScanError::InvalidOptions(format!(
            "`{name}` takes at most {} bytes of text, got {} bytes",
            size.saturating_sub(1),
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(ScanError::InvalidOptions(format!(
            "`{name}`: the value contains a NUL character"
        )));
    }
    let mut buf = vec![0u8; size].into_boxed_slice();
    buf[..value.len()].copy_from_slice(value.as_bytes());
    Ok(buf)
}

/// A SANE device as a [`Scanner`].
#[derive(Debug, Clone, Default)]
pub struct SaneScanner {
    device: Option<String>,
    label: String,
    record: Option<SaneRecord>,
}

impl SaneScanner {
    /// Scans from `device` (a SANE device name); `None` = `SANE_DEFAULT_DEVICE` or the first
    /// scanner found.
    pub fn new(device: Option<String>) -> Self {
        let label = match &device {
            Some(d) => format!("SANE {d}"),
            None => "SANE (first scanner found)".to_string(),
        };
        SaneScanner {
            device,
            label,
            record: None,
        }
    }

    /// Appends what the device was set to for every scan (read back from the backend).
    pub fn recording(mut self, record: SaneRecord) -> Self {
        self.record = Some(record);
        self
    }

    /// The device to open: the configured one, `SANE_DEFAULT_DEVICE`, or the first found.
    fn device_name(&self) -> Result<String, ScanError> {
        Ok(match &self.device {
            Some(d) => d.clone(),
            None => match std::env::var("SANE_DEFAULT_DEVICE") {
                Ok(d) if !d.is_empty() => d,
                _ => devices()?
                    .into_iter()
                    .next()
                    .map(|d| d.name)
                    .ok_or_else(|| ScanError::Device("no scanner found by SANE".into()))?,
            },
        })
    }
}

struct Session<'a> {
    api: &'a Api,
    handle: Handle,
    options: Vec<(String, Opt)>,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from sane_open and is closed exactly once, under the lock.
        unsafe {
            (self.api.cancel)(self.handle);
            (self.api.close)(self.handle);
        }
    }
}

impl<'a> Session<'a> {
    fn open(api: &'a Api, name: &str) -> Result<Self, ScanError> {
        let c_name = CString::new(name)
            .map_err(|_| ScanError::InvalidOptions(format!("device name {name:?}")))?;
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: valid C string and out pointer.
        api.check(
            unsafe { (api.open)(c_name.as_ptr(), &mut handle) },
            "opening the scanner",
        )?;
        let mut s = Session {
            api,
            handle,
            options: Vec::new(),
        };
        s.reload_options();
        Ok(s)
    }

    fn reload_options(&mut self) {
        self.options.clear();
        let mut i = 1;
        loop {
            // SAFETY: descriptors are valid until options are reloaded; copied out at once.
            let desc = unsafe { (self.api.get_option_descriptor)(self.handle, i) };
            if desc.is_null() {
                break;
            }
            let d = unsafe { &*desc };
            if let Some(name) = unsafe { cstr(d.name) } {
                let mut opt = Opt {
                    index: i,
                    kind: d.kind,
                    size: d.size,
                    cap: d.cap,
                    strings: Vec::new(),
                    words: Vec::new(),
                    range: None,
                    step: 0.0,
                };
                let num = |w: c_int| {
                    if d.kind == TYPE_FIXED {
                        f64::from(w) / FIXED_SCALE
                    } else {
                        f64::from(w)
                    }
                };
                // SAFETY: the constraint union member is selected by `constraint_type`.
                unsafe {
                    match d.constraint_type {
                        CONSTRAINT_STRING_LIST if !d.constraint.is_null() => {
                            let list = d.constraint as *const *const c_char;
                            let mut k = 0;
                            while !(*list.add(k)).is_null() {
                                opt.strings.extend(cstr(*list.add(k)));
                                k += 1;
                            }
                        }
                        CONSTRAINT_WORD_LIST if !d.constraint.is_null() => {
                            let list = d.constraint as *const c_int;
                            let n = *list;
                            for k in 1..=n.max(0) as usize {
                                opt.words.push(num(*list.add(k)));
                            }
                        }
                        CONSTRAINT_RANGE if !d.constraint.is_null() => {
                            let r = &*(d.constraint as *const RawRange);
                            opt.range = Some((num(r.min), num(r.max)));
                            opt.step = num(r.quant);
                        }
                        _ => {}
                    }
                }
                self.options.push((name, opt));
            }
            i += 1;
        }
    }

    fn opt(&self, name: &str) -> Option<&Opt> {
        self.options
            .iter()
            .find(|(n, o)| n == name && o.cap & CAP_INACTIVE == 0 && o.cap & CAP_SOFT_SELECT != 0)
            .map(|(_, o)| o)
    }

    fn set_string(&mut self, name: &str, value: &str) -> Result<(), ScanError> {
        let Some(opt) = self.opt(name).cloned() else {
            return Err(ScanError::InvalidOptions(format!(
                "the scanner has no `{name}` option"
            )));
        };
        if opt.kind != TYPE_STRING {
            return Err(ScanError::InvalidOptions(format!(
                "`{name}` is not a text option"
            )));
        }
        let mut buf = string_buffer(name, value, opt.size)?;
        self.control(&opt, name, buf.as_mut_ptr().cast())
    }

    /// Sets a numeric option to the allowed value nearest to `value`; returns what was set.
    fn set_number(&mut self, name: &str, value: f64) -> Result<Option<f64>, ScanError> {
        let Some(opt) = self.opt(name).cloned() else {
            return Ok(None);
        };
        let snapped = if !opt.words.is_empty() {
            opt.words
                .iter()
                .copied()
                .min_by(|a, b| (a - value).abs().total_cmp(&(b - value).abs()))
                .unwrap_or(value)
        } else if let Some((min, max)) = opt.range {
            value.clamp(min, max)
        } else {
            value
        };
        let mut word: c_int = match opt.kind {
            TYPE_FIXED => (snapped * FIXED_SCALE).round() as c_int,
            TYPE_INT => snapped.round() as c_int,
            TYPE_BOOL => c_int::from(snapped != 0.0),
            _ => {
                return Err(ScanError::InvalidOptions(format!(
                    "`{name}` is not a numeric option"
                )))
            }
        };
        // The backend reads `size` bytes from the pointer: one word only when the option is
        // a single value, not an array (gamma tables and the like).
        if usize::try_from(opt.size).ok() != Some(std::mem::size_of::<c_int>()) {
            return Err(ScanError::InvalidOptions(format!(
                "`{name}` is a list of {} bytes, not a single number",
                opt.size
            )));
        }
        self.control(&opt, name, (&mut word as *mut c_int).cast())?;
        Ok(Some(snapped))
    }

    fn control(&mut self, opt: &Opt, name: &str, value: *mut c_void) -> Result<(), ScanError> {
        let mut info: c_int = 0;
        // SAFETY: `value` points to a buffer of the option's type and of the size its descriptor
        // gives (strings: `string_buffer`, NUL-terminated within it; numbers: one word), which
        // is all a backend may read or write back.
        let status = unsafe {
            (self.api.control_option)(self.handle, opt.index, ACTION_SET, value, &mut info)
        };
        self.api.check(status, &format!("setting `{name}`"))?;
        if info & 2 != 0 {
            self.reload_options();
        }
        Ok(())
    }

    fn parameters(&self) -> Result<RawParameters, ScanError> {
        let mut p = RawParameters::default();
        // SAFETY: valid out pointer.
        let status = unsafe { (self.api.get_parameters)(self.handle, &mut p) };
        self.api.check(status, "reading scan parameters")?;
        Ok(p)
    }

    /// Sets the device up for `opts`; returns the resolution it will scan at.
    fn configure(&mut self, opts: &ScanOptions) -> Result<u32, ScanError> {
        // Mode and depth: SANE's well-known names, with the test backend's "Gray + 1 bit" for
        // black and white when there is no "Lineart".
        let modes = self
            .opt("mode")
            .map(|o| o.strings.clone())
            .unwrap_or_default();
        let pick = |wanted: &[&str]| {
            wanted
                .iter()
                .find_map(|w| modes.iter().find(|m| m.eq_ignore_ascii_case(w)))
                .cloned()
        };
        let (mode, depth) = match opts.color {
            ColorMode::Color => (pick(&["Color", "Colour", "RGB"]), 8.0),
            ColorMode::Gray => (pick(&["Gray", "Grey", "Grayscale"]), 8.0),
            ColorMode::BlackWhite => match pick(&["Lineart", "Binary", "Black & White"]) {
                Some(m) => (Some(m), 1.0),
                None => (pick(&["Gray", "Grey"]), 1.0),
            },
        };
        match mode {
            Some(m) => self.set_string("mode", &m)?,
            None if !modes.is_empty() => {
                return Err(ScanError::InvalidOptions(format!(
                    "the scanner offers no mode for {:?} (it has {modes:?})",
                    opts.color
                )))
            }
            None => {}
        }
        if let Some(allowed) = self.opt("depth").map(|o| o.words.clone()) {
            if allowed.is_empty() || allowed.contains(&depth) {
                self.set_number("depth", depth)?;
            }
        }
        let dpi = self
            .set_number("resolution", f64::from(opts.dpi))?
            .map_or(opts.dpi, |d| d.round().max(1.0) as u32);

        let sources = self
            .opt("source")
            .map(|o| o.strings.clone())
            .unwrap_or_default();
        let find = |keys: &[&str]| {
            sources
                .iter()
                .find(|s| keys.iter().any(|k| s.to_lowercase().contains(k)))
                .cloned()
        };
        let source = match opts.source {
            ScanSource::Flatbed => find(&["flatbed", "platen", "glass"]),
            ScanSource::Adf => find(&["adf front", "simplex"]).or_else(|| {
                find(&["adf", "feeder"]).filter(|s| !s.to_lowercase().contains("duplex"))
            }),
            ScanSource::AdfDuplex => find(&["duplex"]),
        };
        match source {
            Some(s) => self.set_string("source", &s)?,
            None if !sources.is_empty() => {
                return Err(ScanError::InvalidOptions(format!(
                    "the scanner has no {:?} source (it has {sources:?})",
                    opts.source
                )))
            }
            None if opts.source != ScanSource::Flatbed => {
                return Err(ScanError::InvalidOptions(
                    "the scanner has no document feeder".into(),
                ))
            }
            None => {}
        }

        // Scan area: the page size from the top-left corner, within what the glass allows.
        let (w, h) = opts.page_size.size_mm();
        self.set_number("tl-x", 0.0)?;
        self.set_number("tl-y", 0.0)?;
        self.set_number("br-x", w)?;
        self.set_number("br-y", h)?;
        Ok(dpi)
    }

    /// Starts the next page; `None` when the feeder is empty.
    fn start_page<'s>(
        &'s mut self,
        dpi: u32,
        cancel: &'s AtomicBool,
    ) -> Result<Option<SaneRows<'s, 'a>>, ScanError> {
        // SAFETY: handle is open.
        let status = unsafe { (self.api.start)(self.handle) };
        if status == STATUS_NO_DOCS {
            return Ok(None);
        }
        self.api.check(status, "starting the scan")?;
        let p = self.parameters()?;
        let color = match (p.format, p.depth) {
            (FRAME_GRAY, 1) => ColorMode::BlackWhite,
            (FRAME_GRAY, 8 | 16) => ColorMode::Gray,
            (FRAME_RGB, 8 | 16) => ColorMode::Color,
            (f, d) => {
                let why = "three-pass scanners are not supported";
                return Err(ScanError::Device(format!(
                    "unsupported frame format {f} at {d} bits ({why})"
                )));
            }
        };
        let width = u32::try_from(p.pixels_per_line)
            .ok()
            .filter(|w| *w > 0)
            .ok_or_else(|| ScanError::BadPage(format!("{} pixels per line", p.pixels_per_line)))?;
        let src_line = usize::try_from(p.bytes_per_line)
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| ScanError::BadPage(format!("{} bytes per line", p.bytes_per_line)))?;
        let out_line = row_bytes(color, width);
        let needed = if p.depth == 16 {
            2 * out_line
        } else {
            out_line
        };
        if src_line < needed {
            return Err(ScanError::BadPage(format!(
                "{src_line} bytes per line cannot hold {width} pixels"
            )));
        }
        // -1 (unknown, e.g. a feeder that finds the end of the sheet itself) and 0 alike.
        let lines = u32::try_from(p.lines).ok().filter(|&l| l > 0);
        Ok(Some(SaneRows {
            session: self,
            cancel,
            info: PageInfo {
                width_px: width,
                height_px: lines,
                dpi,
                color,
            },
            depth: p.depth,
            line: vec![0; src_line],
            rows_read: 0,
            eof: false,
        }))
    }
}

/// The lines of the page being scanned, read from the device as they are asked for.
struct SaneRows<'s, 'a> {
    session: &'s mut Session<'a>,
    cancel: &'s AtomicBool,
    info: PageInfo,
    depth: c_int,
    /// One device line (`bytes_per_line`), filled by as many `sane_read`s as it takes.
    line: Vec<u8>,
    rows_read: u32,
    eof: bool,
}

impl SaneRows<'_, '_> {
    /// Reads the next whole device line into `self.line`; false at the end of the page.
    fn next_line(&mut self) -> Result<bool, ScanError> {
        let api = self.session.api;
        let mut filled = 0;
        while filled < self.line.len() {
            if self.cancel.load(Ordering::SeqCst) {
                // SAFETY: handle is open.
                unsafe { (api.cancel)(self.session.handle) };
                return Err(ScanError::Cancelled);
            }
            let mut len: c_int = 0;
            let want = c_int::try_from(self.line.len() - filled).unwrap_or(c_int::MAX);
            // SAFETY: `line[filled..]` has at least `want` bytes.
            let status = unsafe {
                (api.read)(
                    self.session.handle,
                    self.line[filled..].as_mut_ptr(),
                    want,
                    &mut len,
                )
            };
            match status {
                STATUS_GOOD => {
                    filled += usize::try_from(len)
                        .unwrap_or(0)
                        .min(self.line.len() - filled)
                }
                // A partial last line is dropped, as before.
                STATUS_EOF => {
                    self.eof = true;
                    return Ok(false);
                }
                s => api.check(s, "reading the page")?,
            }
        }
        Ok(true)
    }

    /// Reads to the end of the page so the device is ready for `sane_start` again.
    fn drain(&mut self) -> Result<u32, ScanError> {
        let mut extra = 0;
        while !self.eof && self.next_line()? {
            extra += 1;
        }
        Ok(extra)
    }
}

impl PageRows for SaneRows<'_, '_> {
    fn info(&self) -> PageInfo {
        self.info
    }

    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        let out_line = self.info.row_bytes();
        let mut n = 0;
        for row in band.chunks_exact_mut(out_line) {
            if self.info.height_px == Some(self.rows_read) {
                // SANE promises exactly `lines` lines; one that sends more is cut to them.
                let extra = self.drain()?;
                if extra > 0 {
                    tracing::warn!(
                        extra,
                        lines = self.rows_read,
                        "scanner sent more lines than announced; cut"
                    );
                }
                break;
            }
            if self.eof || !self.next_line()? {
                if self.rows_read == 0 {
                    return Err(ScanError::BadPage("the scanner sent an empty page".into()));
                }
                if let Some(announced) = self.info.height_px {
                    // Short page: pad with paper so the announced height (already in the
                    // JPEG header) holds; a lost strip at the bottom beats a lost scan.
                    tracing::warn!(
                        announced,
                        sent = self.rows_read,
                        "scanner sent fewer lines than announced; padded"
                    );
                    let paper = if self.info.color == ColorMode::BlackWhite {
                        0
                    } else {
                        0xff
                    };
                    row.fill(paper);
                    self.rows_read += 1;
                    n += 1;
                    continue;
                }
                break;
            }
            if self.depth == 16 {
                // Native-endian 16-bit samples: keep the high byte.
                for (s, out) in row.iter_mut().enumerate() {
                    let v = u16::from_ne_bytes([self.line[2 * s], self.line[2 * s + 1]]);
                    *out = (v >> 8) as u8;
                }
            } else {
                row.copy_from_slice(&self.line[..out_line]);
            }
            self.rows_read += 1;
            n += 1;
        }
        Ok(n)
    }
}

impl Scanner for SaneScanner {
    fn name(&self) -> &str {
        &self.label
    }

    fn scan(
        &mut self,
        opts: &ScanOptions,
        on_page: &mut PageFn<'_>,
        cancel: &AtomicBool,
    ) -> Result<u32, ScanError> {
        opts.validate()?;
        let api = api()?;
        let device = self.device_name()?;
        let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let mut session = Session::open(api, &device)?;
        let dpi = session.configure(opts)?;
        if let Some(record) = &self.record {
            let applied = session.applied();
            record
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(applied);
        }
        tracing::info!(device, ?opts, "SANE scan starting");
        let mut pages = 0u32;
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Err(ScanError::Cancelled);
            }
            match session.start_page(dpi, cancel)? {
                Some(mut page) => {
                    pages += 1;
                    on_page(&mut page)?;
                    page.drain()?;
                }
                None if pages == 0 => return Err(ScanError::NoPaper("document feeder")),
                None => break,
            }
            if opts.source == ScanSource::Flatbed {
                break;
            }
        }
        Ok(pages)
    }

    fn capabilities(&mut self) -> Result<crate::scan::caps::ScannerCaps, ScanError> {
        let api = api()?;
        let device = self.device_name()?;
        let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Session::open(api, &device)?.caps())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SANE's `test` backend (Debian libsane1, see device/ci-sane.sh) alone, as
    /// tests/scan_sane.rs sets it up; `None` where the run has no libsane (qemu-user).
    fn test_backend() -> Option<&'static Api> {
        if std::env::var_os("MFP_TESTS_WITHOUT_SANE").is_some() {
            eprintln!("skipped: MFP_TESTS_WITHOUT_SANE is set (no libsane for this target)");
            return None;
        }
        static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("mfp-kiosk-sane-unit-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("dll.conf"), "test\n").unwrap();
            // Read by sane_init, which runs once, on the first api() below.
            std::env::set_var("SANE_CONFIG_DIR", &dir);
            dir
        });
        Some(api().expect("libsane1 must be installed (see device/ci-sane.sh)"))
    }

    /// The backend's current value of string option `name`.
    fn get_string(s: &Session<'_>, name: &str) -> String {
        let (_, opt) = s.options.iter().find(|(n, _)| n == name).unwrap();
        let mut buf = vec![0u8; usize::try_from(opt.size).unwrap()];
        // SAFETY: a buffer of the descriptor's size, as SANE asks for GET_VALUE.
        let status = unsafe {
            (s.api.control_option)(
                s.handle,
                opt.index,
                ACTION_GET,
                buf.as_mut_ptr().cast(),
                std::ptr::null_mut(),
            )
        };
        s.api.check(status, "reading back").unwrap();
        CStr::from_bytes_until_nul(&buf)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_string_value_is_bounded_by_the_option_size_and_never_overruns_the_backend() {
        let Some(api) = test_backend() else {
            return;
        };
        let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let mut s = Session::open(api, "test:0").unwrap();
        // The test backend's option `string` (no constraint, size = its initial text + NUL) is
        // active only with its test options enabled.
        assert_eq!(s.set_number("enable-test-options", 1.0).unwrap(), Some(1.0));
        let size =
            usize::try_from(s.opt("string").expect("the test backend's `string`").size).unwrap();
        assert!((2..256).contains(&size), "size {size}");
        let before = get_string(&s, "string");

        // `size` bytes leave no room for the NUL: the backend's strcpy would write past its
        // buffer. Refused, naming the option, and the backend's value is untouched.
        for len in [size, size + 1, 256, 300] {
            match s.set_string("string", &"x".repeat(len)) {
                Err(ScanError::InvalidOptions(m)) => {
                    assert!(m.contains("`string`"), "{m}");
                    assert!(m.contains(&format!("at most {} bytes", size - 1)), "{m}");
                }
                other => panic!("a {len}-byte value for a {size}-byte option: {other:?}"),
            }
        }
        assert_eq!(get_string(&s, "string"), before);

        // The longest value that fits, size - 1 bytes plus the NUL, is set and read back.
        let longest = "y".repeat(size - 1);
        s.set_string("string", &longest).unwrap();
        assert_eq!(get_string(&s, "string"), longest);
        s.set_string("string", "short").unwrap();
        assert_eq!(get_string(&s, "string"), "short");

        // A number array takes no single word: the backend would read past it.
        let array = s
            .opt("int-constraint-array")
            .expect("the test backend's int array");
        assert_eq!(array.size, 6 * 4);
        assert!(matches!(
            s.set_number("int-constraint-array", 1.0),
            Err(ScanError::InvalidOptions(m)) if m.contains("`int-constraint-array`")
        ));

        // `mode` is sized by its longest choice, not by a fixed 256.
        let mode_size = usize::try_from(s.opt("mode").unwrap().size).unwrap();
        assert!((6..32).contains(&mode_size), "size {mode_size}");
        s.set_string("mode", "Color").unwrap();
        assert_eq!(get_string(&s, "mode"), "Color");
        assert!(matches!(
            s.set_string("mode", &"C".repeat(mode_size)),
            Err(ScanError::InvalidOptions(m)) if m.contains("`mode`")
        ));
    }

    #[test]
    fn string_buffers_have_the_descriptor_size_and_a_nul() {
        assert_eq!(&*string_buffer("mode", "Gray", 6).unwrap(), b"Gray\0\0");
        assert_eq!(&*string_buffer("mode", "Color", 6).unwrap(), b"Color\0");
        let err = string_buffer("mode", "Colour", 6).unwrap_err().to_string();
        assert!(
            err.contains("`mode`") && err.contains("at most 5 bytes"),
            "{err}"
        );
        assert!(
            string_buffer("mode", "", 0).is_err(),
            "no room even for the NUL"
        );
        assert!(string_buffer("mode", "", -1).is_err());
        assert!(
            string_buffer("mode", "a\0b", 8).is_err(),
            "an inner NUL would cut it"
        );
    }

    #[test]
    fn parameters_match_the_c_layout() {
        assert_eq!(std::mem::size_of::<RawParameters>(), 6 * 4);
        assert_eq!(std::mem::size_of::<RawRange>(), 3 * 4);
        // Three pointers, five ints, then the constraint pointer at its alignment: 56 bytes on
        // a 64-bit target (4 of them padding), 36 on armv7.
        let ptr = std::mem::size_of::<usize>();
        let fields = 3 * ptr + 5 * 4;
        assert_eq!(
            std::mem::size_of::<RawOption>(),
            fields.next_multiple_of(ptr) + ptr
        );
    }
}
