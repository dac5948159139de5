//! A minimal VST3 host over the `vst3` crate's bindings (the ones nice-plug's VST3 wrapper is
//! built on): loads a `.vst3` bundle (or the library inside it), lists its buses and
//! parameters with their text conversions, saves and restores its state through a memory
//! stream, and renders audio through `IAudioProcessor::process` block by block. It checks the
//! VST3 path that DAWs such as Cubase, Bitwig and REAPER take; the project's CLAP host
//! ([`crate::host`]) does everything else.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use vst3::Steinberg::Vst::ProcessContext_::StatesAndFlags_::{
    kContTimeValid, kPlaying, kProjectTimeMusicValid, kTempoValid, kTimeSigValid,
};
use vst3::Steinberg::Vst::{
    AudioBusBuffers, AudioBusBuffers__type0, BusDirections_, BusInfo, IAudioProcessor, IAudioProcessorTrait,
    IComponent, IComponentHandler, IComponentHandlerTrait, IComponentTrait, IEditController, IEditControllerTrait,
    IHostApplication, IHostApplicationTrait, MediaTypes_, ParameterInfo, ProcessContext, ProcessData, ProcessModes_,
    ProcessSetup, String128, SymbolicSampleSizes_,
};
use vst3::Steinberg::{
    kInvalidArgument, kNotImplemented, kResultFalse, kResultOk, tresult, FUnknown, IBStream, IBStreamTrait,
    IBStream_::IStreamSeekMode_, IPluginBaseTrait, IPluginFactory, IPluginFactoryTrait, PClassInfo, TUID,
};
use vst3::{Class, ComPtr, ComWrapper, Interface};

use crate::audio::Audio;
use crate::host::input_sample;

/// A parameter as the VST3 controller describes it.
#[derive(Debug, Clone)]
pub struct Vst3Param {
    /// VST3 parameter id.
    pub id: u32,
    /// Title.
    pub title: String,
    /// Default, normalized 0–1.
    pub default: f64,
    /// 0 for continuous, else the number of steps.
    pub steps: i32,
}

/// One loaded VST3 plugin instance.
pub struct Vst3Plugin {
    // Field order matters: the COM objects go before the library that holds their code.
    processor: ComPtr<IAudioProcessor>,
    controller: ComPtr<IEditController>,
    component: ComPtr<IComponent>,
    _host: ComWrapper<HostApp>,
    handler: ComWrapper<Handler>,
    lib: Option<libloading::Library>,
    /// Class name from the factory.
    pub name: String,
    /// Audio input buses: (name, channels).
    pub inputs: Vec<(String, i32)>,
    /// Audio output buses: (name, channels).
    pub outputs: Vec<(String, i32)>,
    /// Parameters.
    pub params: Vec<Vst3Param>,
}

/// What a render produced.
#[derive(Debug, Clone)]
pub struct Vst3Rendered {
    /// One entry per output bus.
    pub outputs: Vec<(String, Audio)>,
    /// Latency the processor reported after activation, in frames.
    pub latency: u32,
    /// Restart requests (e.g. a latency change) the plugin made while processing; a plugin may
    /// announce its latency when it is activated, not later.
    pub restarts_while_processing: u64,
}

/// The library inside a `.vst3` bundle (Linux layout), or `path` itself if it is a file.
pub fn module_path(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let dir = path.join("Contents").join(format!("{}-linux", std::env::consts::ARCH));
    let entries = std::fs::read_dir(&dir).with_context(|| format!("{} is not a VST3 bundle", path.display()))?;
    for e in entries {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "so") {
            return Ok(p);
        }
    }
    bail!("no .so in {}", dir.display())
}

fn utf16(s: &[u16]) -> String {
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf16_lossy(&s[..end])
}

fn ascii(s: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = s.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check(what: &str, r: tresult) -> Result<()> {
    if r == kResultOk {
        Ok(())
    } else {
        Err(anyhow!("{what} returned {r}"))
    }
}

/// The host's `IHostApplication` (its name; it creates no objects for the plugin).
struct HostApp;

impl Class for HostApp {
    type Interfaces = (IHostApplication,);
}

impl IHostApplicationTrait for HostApp {
    unsafe fn getName(&self, name: *mut String128) -> tresult {
        if name.is_null() {
            return kInvalidArgument;
        }
        let text: Vec<u16> = "mir-suite vst3 host".encode_utf16().collect();
        // SAFETY: the caller passes a valid String128.
        let dst = unsafe { &mut *name };
        dst.fill(0);
        dst[..text.len()].copy_from_slice(&text);
        kResultOk
    }

    unsafe fn createInstance(&self, _cid: *mut TUID, _iid: *mut TUID, obj: *mut *mut c_void) -> tresult {
        if !obj.is_null() {
            // SAFETY: obj is a valid out pointer when not null.
            unsafe { *obj = std::ptr::null_mut() };
        }
        kNotImplemented
    }
}

/// The host's `IComponentHandler`: counts the plugin's edits and restart requests (a latency
/// change while active arrives as a restart request).
#[derive(Default)]
struct Handler {
    edits: std::sync::atomic::AtomicU64,
    restarts: std::sync::atomic::AtomicU64,
}

impl Class for Handler {
    type Interfaces = (IComponentHandler,);
}

impl IComponentHandlerTrait for Handler {
    unsafe fn beginEdit(&self, _id: u32) -> tresult {
        kResultOk
    }
    unsafe fn performEdit(&self, _id: u32, _value: f64) -> tresult {
        self.edits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        kResultOk
    }
    unsafe fn endEdit(&self, _id: u32) -> tresult {
        kResultOk
    }
    unsafe fn restartComponent(&self, _flags: i32) -> tresult {
        self.restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        kResultOk
    }
}

/// An `IBStream` over bytes in memory, for getState / setState.
struct MemStream {
    inner: Mutex<(Vec<u8>, usize)>,
}

impl Class for MemStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemStream {
    unsafe fn read(&self, buffer: *mut c_void, num_bytes: i32, num_read: *mut i32) -> tresult {
        let Ok(mut g) = self.inner.lock() else { return kResultFalse };
        let (data, pos) = &mut *g;
        let n = (num_bytes.max(0) as usize).min(data.len().saturating_sub(*pos));
        if n > 0 {
            // SAFETY: the caller's buffer holds num_bytes ≥ n bytes.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr().add(*pos), buffer as *mut u8, n) };
        }
        *pos += n;
        if !num_read.is_null() {
            // SAFETY: valid out pointer when not null.
            unsafe { *num_read = n as i32 };
        }
        kResultOk
    }

    unsafe fn write(&self, buffer: *mut c_void, num_bytes: i32, num_written: *mut i32) -> tresult {
        let Ok(mut g) = self.inner.lock() else { return kResultFalse };
        let (data, pos) = &mut *g;
        let n = num_bytes.max(0) as usize;
        if data.len() < *pos + n {
            data.resize(*pos + n, 0);
        }
        // SAFETY: the caller's buffer holds num_bytes bytes.
        unsafe { std::ptr::copy_nonoverlapping(buffer as *const u8, data.as_mut_ptr().add(*pos), n) };
        *pos += n;
        if !num_written.is_null() {
            // SAFETY: valid out pointer when not null.
            unsafe { *num_written = n as i32 };
        }
        kResultOk
    }

    // The enum constants' type differs by platform (u32 here, i32 on Windows).
    #[allow(clippy::unnecessary_cast)]
    unsafe fn seek(&self, pos: i64, mode: i32, result: *mut i64) -> tresult {
        let Ok(mut g) = self.inner.lock() else { return kResultFalse };
        let (data, at) = &mut *g;
        let base = match mode as u32 {
            m if m == IStreamSeekMode_::kIBSeekSet as u32 => 0,
            m if m == IStreamSeekMode_::kIBSeekCur as u32 => *at as i64,
            m if m == IStreamSeekMode_::kIBSeekEnd as u32 => data.len() as i64,
            _ => return kInvalidArgument,
        };
        let new = base + pos;
        if new < 0 {
            return kInvalidArgument;
        }
        *at = new as usize;
        if !result.is_null() {
            // SAFETY: valid out pointer when not null.
            unsafe { *result = new };
        }
        kResultOk
    }

    unsafe fn tell(&self, pos: *mut i64) -> tresult {
        let Ok(g) = self.inner.lock() else { return kResultFalse };
        if pos.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: checked not null.
        unsafe { *pos = g.1 as i64 };
        kResultOk
    }
}

impl Vst3Plugin {
    /// Loads the first audio-effect class of the VST3 module at `path` (a `.vst3` bundle or its
    /// library), initializes it with this host and describes its buses and parameters.
    pub fn load(path: &Path) -> Result<Self> {
        let module = module_path(path)?;
        // SAFETY: loading a plugin runs its initialisers, as every host does.
        let lib = unsafe { libloading::Library::new(&module) }
            .with_context(|| format!("cannot load {}", module.display()))?;
        // SAFETY: symbol types as the VST3 SDK declares them for Linux modules.
        let factory = unsafe {
            let entry: libloading::Symbol<unsafe extern "C" fn(*mut c_void) -> bool> =
                lib.get(b"ModuleEntry\0").context("the module has no ModuleEntry")?;
            if !entry(std::ptr::null_mut()) {
                bail!("ModuleEntry failed");
            }
            let get: libloading::Symbol<unsafe extern "system" fn() -> *mut IPluginFactory> =
                lib.get(b"GetPluginFactory\0").context("the module has no GetPluginFactory")?;
            ComPtr::from_raw(get()).ok_or_else(|| anyhow!("GetPluginFactory returned null"))?
        };
        let mut chosen = None;
        // SAFETY: the factory is a valid COM object; the info struct is plain data.
        unsafe {
            for i in 0..factory.countClasses() {
                let mut info: PClassInfo = std::mem::zeroed();
                if factory.getClassInfo(i, &mut info) == kResultOk && ascii(&info.category) == "Audio Module Class" {
                    chosen = Some((info.cid, ascii(&info.name)));
                    break;
                }
            }
        }
        let (cid, name) = chosen.ok_or_else(|| anyhow!("no audio module class in {}", module.display()))?;
        let mut obj: *mut c_void = std::ptr::null_mut();
        // SAFETY: cid and the IID are 16-byte ids; obj receives a referenced IComponent.
        let component = unsafe {
            check(
                "createInstance",
                factory.createInstance(cid.as_ptr(), IComponent::IID.as_ptr() as *const std::ffi::c_char, &mut obj),
            )?;
            ComPtr::from_raw(obj as *mut IComponent).ok_or_else(|| anyhow!("createInstance gave null"))?
        };
        let host = ComWrapper::new(HostApp);
        let context = host.to_com_ptr::<FUnknown>().ok_or_else(|| anyhow!("host context"))?;
        // SAFETY: valid objects; the context outlives the plugin (it is a field).
        unsafe { check("IComponent::initialize", component.initialize(context.as_ptr()))? };
        let processor = component.cast::<IAudioProcessor>().ok_or_else(|| anyhow!("no IAudioProcessor"))?;
        let controller = match component.cast::<IEditController>() {
            Some(c) => c,
            None => bail!("the component is not its own edit controller (separate controllers are not supported here)"),
        };
        let handler = ComWrapper::new(Handler::default());
        let h = handler.to_com_ptr::<IComponentHandler>().ok_or_else(|| anyhow!("component handler"))?;
        // SAFETY: valid objects; the handler outlives the plugin (it is a field).
        unsafe { check("setComponentHandler", controller.setComponentHandler(h.as_ptr()))? };
        let mut plugin = Vst3Plugin {
            processor,
            controller,
            component,
            _host: host,
            handler,
            lib: Some(lib),
            name,
            inputs: vec![],
            outputs: vec![],
            params: vec![],
        };
        plugin.describe();
        Ok(plugin)
    }

    fn describe(&mut self) {
        // SAFETY: valid COM objects; the info structs are plain data.
        unsafe {
            for (dir, list) in
                [(BusDirections_::kInput, &mut self.inputs), (BusDirections_::kOutput, &mut self.outputs)]
            {
                for i in 0..self.component.getBusCount(MediaTypes_::kAudio as i32, dir as i32) {
                    let mut info: BusInfo = std::mem::zeroed();
                    if self.component.getBusInfo(MediaTypes_::kAudio as i32, dir as i32, i, &mut info) == kResultOk {
                        list.push((utf16(&info.name), info.channelCount));
                    }
                }
            }
            for i in 0..self.controller.getParameterCount() {
                let mut info: ParameterInfo = std::mem::zeroed();
                if self.controller.getParameterInfo(i, &mut info) == kResultOk {
                    self.params.push(Vst3Param {
                        id: info.id,
                        title: utf16(&info.title),
                        default: info.defaultNormalizedValue,
                        steps: info.stepCount,
                    });
                }
            }
        }
    }

    /// The controller's text for parameter `id` at normalized `value`.
    pub fn param_text(&self, id: u32, value: f64) -> Result<String> {
        let mut s: String128 = [0; 128];
        // SAFETY: s is a String128.
        unsafe { check("getParamStringByValue", self.controller.getParamStringByValue(id, value, &mut s))? };
        Ok(utf16(&s))
    }

    /// The normalized value the controller parses from `text`.
    pub fn param_from_text(&self, id: u32, text: &str) -> Result<f64> {
        let mut s: Vec<u16> = text.encode_utf16().collect();
        s.push(0);
        let mut v = 0.0;
        // SAFETY: s is NUL-terminated UTF-16.
        unsafe { check("getParamValueByString", self.controller.getParamValueByString(id, s.as_mut_ptr(), &mut v))? };
        Ok(v)
    }

    /// Current normalized value of `id`.
    pub fn param(&self, id: u32) -> f64 {
        // SAFETY: valid controller.
        unsafe { self.controller.getParamNormalized(id) }
    }

    /// Sets `id` to normalized `value` through the controller, as a host's generic editor does.
    pub fn set_param(&self, id: u32, value: f64) -> Result<()> {
        // SAFETY: valid controller.
        unsafe { check("setParamNormalized", self.controller.setParamNormalized(id, value)) }
    }

    /// How many times the plugin asked the host to restart it (IComponentHandler).
    pub fn restart_requests(&self) -> u64 {
        self.handler.restarts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The component's state (IComponent::getState into a memory stream).
    pub fn save_state(&self) -> Result<Vec<u8>> {
        let stream = ComWrapper::new(MemStream { inner: Mutex::new((Vec::new(), 0)) });
        let ptr = stream.to_com_ptr::<IBStream>().ok_or_else(|| anyhow!("stream"))?;
        // SAFETY: valid objects.
        unsafe { check("IComponent::getState", self.component.getState(ptr.as_ptr()))? };
        let data = stream.inner.lock().map_err(|_| anyhow!("stream lock"))?.0.clone();
        Ok(data)
    }

    /// Restores a state (IComponent::setState, then the controller's setComponentState).
    pub fn load_state(&self, bytes: &[u8]) -> Result<()> {
        for target in 0..2 {
            let stream = ComWrapper::new(MemStream { inner: Mutex::new((bytes.to_vec(), 0)) });
            let ptr = stream.to_com_ptr::<IBStream>().ok_or_else(|| anyhow!("stream"))?;
            // SAFETY: valid objects.
            unsafe {
                if target == 0 {
                    check("IComponent::setState", self.component.setState(ptr.as_ptr()))?;
                } else {
                    check("IEditController::setComponentState", self.controller.setComponentState(ptr.as_ptr()))?;
                }
            }
        }
        Ok(())
    }

    /// Renders `input` (mapped onto the first input bus, mono ↔ stereo as a DAW would) through
    /// the processor in blocks of `block` frames, with a playing 120 BPM transport; returns
    /// every output bus, latency not compensated.
    ///
    /// `setups` is how many times `setupProcessing` is called before activation (1 as most
    /// hosts do). nice-plug 0.4.2's VST3 wrapper stores the process mode of the *previous*
    /// `setupProcessing` call in the configuration the plugin is activated with, so with one
    /// call the plugin sees the mode before; a second identical call gives it the mode asked for.
    pub fn render(&self, input: &Audio, block: usize, offline: bool, setups: usize) -> Result<Vst3Rendered> {
        if block == 0 {
            bail!("block size must be at least 1");
        }
        let rate = input.sample_rate;
        let mode = if offline { ProcessModes_::kOffline } else { ProcessModes_::kRealtime } as i32;
        let mut setup = ProcessSetup {
            processMode: mode,
            symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
            maxSamplesPerBlock: block as i32,
            sampleRate: rate as f64,
        };
        // SAFETY: valid objects and plain-data arguments.
        let latency = unsafe {
            check(
                "canProcessSampleSize(32)",
                self.processor.canProcessSampleSize(SymbolicSampleSizes_::kSample32 as i32),
            )?;
            for _ in 0..setups.max(1) {
                check("setupProcessing", self.processor.setupProcessing(&mut setup))?;
            }
            for (dir, n) in [(BusDirections_::kInput, self.inputs.len()), (BusDirections_::kOutput, self.outputs.len())]
            {
                for i in 0..n {
                    check(
                        "activateBus",
                        self.component.activateBus(MediaTypes_::kAudio as i32, dir as i32, i as i32, 1),
                    )?;
                }
            }
            check("setActive(true)", self.component.setActive(1))?;
            let latency = self.processor.getLatencySamples();
            if let Err(e) = check("setProcessing(true)", self.processor.setProcessing(1)) {
                self.component.setActive(0);
                return Err(e);
            }
            latency
        };
        let restarts_before = self.restart_requests();
        let frames = input.frames();
        let mut in_bufs: Vec<Vec<Vec<f32>>> =
            self.inputs.iter().map(|b| vec![vec![0.0; block]; b.1.max(0) as usize]).collect();
        let mut out_bufs: Vec<Vec<Vec<f32>>> =
            self.outputs.iter().map(|b| vec![vec![0.0; block]; b.1.max(0) as usize]).collect();
        let mut collected: Vec<Vec<Vec<f32>>> =
            self.outputs.iter().map(|b| vec![Vec::with_capacity(frames); b.1.max(0) as usize]).collect();
        let mut pos = 0usize;
        let mut failure = None;
        while pos < frames {
            let n = block.min(frames - pos);
            for (p, bus) in in_bufs.iter_mut().enumerate() {
                let width = bus.len();
                for (c, ch) in bus.iter_mut().enumerate() {
                    for (i, s) in ch[..n].iter_mut().enumerate() {
                        *s = if p == 0 { input_sample(input, c, width, pos + i) } else { 0.0 };
                    }
                }
            }
            let mut in_ptrs: Vec<Vec<*mut f32>> =
                in_bufs.iter_mut().map(|b| b.iter_mut().map(|c| c.as_mut_ptr()).collect()).collect();
            let mut out_ptrs: Vec<Vec<*mut f32>> =
                out_bufs.iter_mut().map(|b| b.iter_mut().map(|c| c.as_mut_ptr()).collect()).collect();
            let mut ins = bus_buffers(&mut in_ptrs);
            let mut outs = bus_buffers(&mut out_ptrs);
            // SAFETY: ProcessContext is plain data; all-zero is a valid (empty) context.
            let mut ctx: ProcessContext = unsafe { std::mem::zeroed() };
            ctx.state = kPlaying | kTempoValid | kProjectTimeMusicValid | kTimeSigValid | kContTimeValid;
            ctx.sampleRate = rate as f64;
            ctx.projectTimeSamples = pos as i64;
            ctx.continousTimeSamples = pos as i64;
            ctx.tempo = 120.0;
            ctx.projectTimeMusic = pos as f64 / rate as f64 * 2.0;
            ctx.timeSigNumerator = 4;
            ctx.timeSigDenominator = 4;
            let mut data = ProcessData {
                processMode: mode,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                numSamples: n as i32,
                numInputs: ins.len() as i32,
                numOutputs: outs.len() as i32,
                inputs: if ins.is_empty() { std::ptr::null_mut() } else { ins.as_mut_ptr() },
                outputs: if outs.is_empty() { std::ptr::null_mut() } else { outs.as_mut_ptr() },
                inputParameterChanges: std::ptr::null_mut(),
                outputParameterChanges: std::ptr::null_mut(),
                inputEvents: std::ptr::null_mut(),
                outputEvents: std::ptr::null_mut(),
                processContext: &mut ctx,
            };
            // SAFETY: every pointer in data lives until the call returns.
            let r = unsafe { self.processor.process(&mut data) };
            if r != kResultOk {
                failure = Some(anyhow!("process returned {r} at frame {pos}"));
                break;
            }
            for (p, bus) in out_bufs.iter().enumerate() {
                for (c, ch) in bus.iter().enumerate() {
                    collected[p][c].extend_from_slice(&ch[..n]);
                }
            }
            pos += n;
        }
        let restarts = self.restart_requests();
        // SAFETY: valid objects.
        unsafe {
            self.processor.setProcessing(0);
            self.component.setActive(0);
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let outputs = self
            .outputs
            .iter()
            .zip(collected)
            .map(|((name, _), channels)| (name.clone(), Audio { sample_rate: rate, channels }))
            .collect();
        Ok(Vst3Rendered { outputs, latency, restarts_while_processing: restarts - restarts_before })
    }
}

/// One `AudioBusBuffers` per bus over its channels' sample pointers (which must outlive the use).
fn bus_buffers(ptrs: &mut [Vec<*mut f32>]) -> Vec<AudioBusBuffers> {
    ptrs.iter_mut()
        .map(|p| AudioBusBuffers {
            numChannels: p.len() as i32,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 { channelBuffers32: p.as_mut_ptr() },
        })
        .collect()
}

impl Drop for Vst3Plugin {
    fn drop(&mut self) {
        // SAFETY: valid objects; terminate once, before the library goes.
        unsafe {
            self.controller.setComponentHandler(std::ptr::null_mut());
            self.component.terminate();
        }
        if let Some(lib) = self.lib.take() {
            // The COM pointers are released when the fields drop, after this; ModuleExit and the
            // unload must wait for that, so the library is leaked deliberately (hosts keep
            // plugin modules loaded for the process's life as well).
            std::mem::forget(lib);
        }
    }
}
