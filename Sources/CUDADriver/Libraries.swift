#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Where to look for the CUDA user-space libraries. Nothing CUDA is linked at build time:
/// the driver, NVRTC and cuBLAS are opened with `dlopen` on first use.
public struct CUDALibrarySettings: Hashable, Sendable {
    /// An explicit NVRTC library (file) or a folder holding `libnvrtc.so.13`/`.12`; searched first.
    public var nvrtcPath: String?
    /// An explicit cuBLAS library (file) or folder; searched first.
    public var cublasPath: String?
    /// The driver library (libcuda) to open instead of the system's `libcuda.so.1`: a
    /// driver installed off the loader's path, or a missing file to exercise the no-driver
    /// path on a machine that has one.
    public var driverPath: String?
    /// Environment the search may read (`TUNEFLEET_NVRTC`, `TUNEFLEET_CUBLAS`,
    /// `VIRTUAL_ENV`, `CONDA_PREFIX`, `HOME`). Executables pass their process environment;
    /// tests pass what they want.
    public var environment: [String: String]

    public init(nvrtcPath: String? = nil, cublasPath: String? = nil, driverPath: String? = nil,
                environment: [String: String] = [:]) {
        self.nvrtcPath = nvrtcPath; self.cublasPath = cublasPath; self.driverPath = driverPath
        self.environment = environment
    }

    /// The variables the search reads, taken from this process's environment.
    public static func fromProcessEnvironment() -> CUDALibrarySettings {
        var env: [String: String] = [:]
        for key in ["TUNEFLEET_NVRTC", "TUNEFLEET_CUBLAS", "VIRTUAL_ENV", "CONDA_PREFIX", "HOME"] {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return CUDALibrarySettings(environment: env)
    }
}

/// Lazily opened CUDA libraries; each is opened once, under a lock, and the outcome (the
/// resolved entry points or the error) is kept. Share one instance per process.
public final class CUDALibraries: Sendable {
    /// The process-wide instance, searching with the process environment.
    public static let shared = CUDALibraries(settings: .fromProcessEnvironment())

    public let settings: CUDALibrarySettings
    private let state = Mutex(LoadState())

    /// One library's load outcome, boxed: the mutex then guards three references instead of
    /// the entry-point tables themselves. (Inline, the tables made the class instance larger
    /// than the size the static-stdlib release build allocated for it: valgrind showed the
    /// initializer writing past the block, and the bundled agent aborted in `probe`.)
    private final class Loaded<API: Sendable>: Sendable {
        let outcome: Result<API, CUDAError>
        init(_ outcome: Result<API, CUDAError>) { self.outcome = outcome }
    }

    private struct LoadState {
        var driver: Loaded<DriverAPI>?
        var nvrtc: Loaded<NVRTCAPI>?
        var cublas: Loaded<CUBLASAPI>?
    }

    public init(settings: CUDALibrarySettings) { self.settings = settings }

    /// The outcome in `slot`, loading it with `load` the first time.
    private func loaded<API: Sendable>(_ slot: WritableKeyPath<LoadState, Loaded<API>?>,
                                       _ load: () throws(CUDAError) -> API) throws(CUDAError) -> API {
        let box = state.withLock { s -> Loaded<API> in
            if let d = s[keyPath: slot] { return d }
            let d = Loaded(Result { () throws(CUDAError) -> API in try load() })
            s[keyPath: slot] = d
            return d
        }
        return try box.outcome.get()
    }

    func driver() throws(CUDAError) -> DriverAPI {
        try loaded(\.driver) { () throws(CUDAError) in try DriverAPI.load(path: settings.driverPath) }
    }

    func nvrtc() throws(CUDAError) -> NVRTCAPI {
        let settings = self.settings
        return try loaded(\.nvrtc) { () throws(CUDAError) in try NVRTCAPI.load(settings: settings) }
    }

    func cublas() throws(CUDAError) -> CUBLASAPI {
        let settings = self.settings
        return try loaded(\.cublas) { () throws(CUDAError) in try CUBLASAPI.load(settings: settings) }
    }

    /// Whether a CUDA driver can be loaded here (no device is touched).
    public var hasDriver: Bool { (try? driver()) != nil }

    /// The path NVRTC was loaded from, or the error saying where it was looked for.
    public func nvrtcLocation() -> Result<String, CUDAError> {
        Result { () throws(CUDAError) -> String in try nvrtc().path }
    }

    public func cublasLocation() -> Result<String, CUDAError> {
        Result { () throws(CUDAError) -> String in try cublas().path }
    }
}

// MARK: dynamic loading

/// An open shared library; never closed (the process keeps its CUDA libraries for life).
struct DynamicLibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    let path: String

    static func open(_ path: String) -> DynamicLibrary? {
        guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { return nil }
        return DynamicLibrary(handle: h, path: path)
    }

    static func lastError() -> String {
        guard let e = dlerror() else { return "" }
        return String(cString: e)
    }

    func symbol<T>(_ name: String, as: T.Type) throws(CUDAError) -> T {
        guard let p = dlsym(handle, name) else {
            throw CUDAError(kind: .missingSymbol, function: name, message: "not exported by \(path)")
        }
        return unsafeBitCast(p, to: T.self)
    }

    func optionalSymbol<T>(_ name: String, as: T.Type) -> T? {
        guard let p = dlsym(handle, name) else { return nil }
        return unsafeBitCast(p, to: T.self)
    }
}

/// Candidate files for a library, in search order: explicit setting, environment variable,
/// the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache), CUDA toolkit folders, and
/// the lib folders of NVIDIA's PyPI wheels in the usual Python installations.
func librarySearchList(fileNames: [String], explicit: String?, envVar: String, env: [String: String],
                       wheelSubdirs: [String]) -> [String] {
    var out: [String] = []
    func addFileOrDir(_ p: String) {
        if isDirectory(p) { for f in fileNames { out.append(p + "/" + f) } } else { out.append(p) }
    }
    if let e = explicit, !e.isEmpty { addFileOrDir(e) }
    if let e = env[envVar], !e.isEmpty { addFileOrDir(e) }
    out.append(contentsOf: fileNames) // bare names: the dynamic loader's search
    var dirs = ["/usr/local/cuda/targets/x86_64-linux/lib", "/usr/local/cuda/lib64"]
    dirs += globPaths("/usr/local/cuda-*/targets/x86_64-linux/lib").sorted(by: >)
    dirs += globPaths("/usr/local/cuda-*/lib64").sorted(by: >)
    dirs += ["/usr/lib/x86_64-linux-gnu", "/usr/lib64"]
    var pythonRoots = ["/usr/local/lib", "/usr/lib", "/opt/conda/lib"]
    if let v = env["VIRTUAL_ENV"] { pythonRoots.insert(v + "/lib", at: 0) }
    if let v = env["CONDA_PREFIX"] { pythonRoots.insert(v + "/lib", at: 0) }
    if let h = env["HOME"] {
        pythonRoots.append(h + "/.local/lib")
        pythonRoots += globPaths(h + "/.pyenv/versions/*/lib")
    }
    pythonRoots += globPaths("/root/.pyenv/versions/*/lib")
    for root in pythonRoots {
        for pkgDir in globPaths(root + "/python3*/site-packages") + globPaths(root + "/python3*/dist-packages") {
            for sub in wheelSubdirs { dirs.append(pkgDir + "/" + sub) }
        }
    }
    for d in dirs where isDirectory(d) { for f in fileNames { out.append(d + "/" + f) } }
    var seen = Set<String>()
    return out.filter { seen.insert($0).inserted }
}

func openFirst(_ candidates: [String], what: String) throws(CUDAError) -> DynamicLibrary {
    var firstError = ""
    for c in candidates {
        // Bare names go to the dynamic loader; paths are tried only when the file exists.
        if c.contains("/") && access(c, F_OK) != 0 { continue }
        if let lib = DynamicLibrary.open(c) { return lib }
        if firstError.isEmpty, c.contains("/") { firstError = DynamicLibrary.lastError() }
    }
    let searched = candidates.filter { $0.contains("/") }.prefix(12).joined(separator: ", ")
    throw CUDAError(kind: .libraryNotFound, function: "dlopen",
                    message: "\(what) not found (searched default loader paths and \(searched))"
                        + (firstError.isEmpty ? "" : "; \(firstError)"))
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

func globPaths(_ pattern: String) -> [String] {
    var g = glob_t()
    defer { globfree(&g) }
    guard glob(pattern, 0, nil, &g) == 0 else { return [] }
    var out: [String] = []
    for i in 0..<Int(g.gl_pathc) {
        if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
    }
    return out
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func sleepMicroseconds(_ us: Int) {
    var ts = timespec(tv_sec: us / 1_000_000, tv_nsec: (us % 1_000_000) * 1000)
    nanosleep(&ts, nil)
}
