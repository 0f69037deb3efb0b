#if canImport(Glibc)
import Glibc
#endif

// The few CUDA driver, NVRTC and cuBLAS entry points TuneFleet uses, declared by hand from
// the public headers (cuda.h, nvrtc.h, cublas_api.h) so that no CUDA SDK is needed to build.
// Handles are opaque pointers, CUdeviceptr is 64-bit, size_t is Int, enums are Int32.

typealias CUResultFn0 = @convention(c) () -> Int32
typealias CUInitFn = @convention(c) (UInt32) -> Int32
typealias CUIntOutFn = @convention(c) (UnsafeMutablePointer<Int32>?) -> Int32
typealias CUDeviceGetFn = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
typealias CUDeviceGetAttributeFn = @convention(c) (UnsafeMutablePointer<Int32>?, Int32, Int32) -> Int32
typealias CUDeviceGetNameFn = @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32) -> Int32
typealias CUDeviceTotalMemFn = @convention(c) (UnsafeMutablePointer<Int>?, Int32) -> Int32
typealias CUPrimaryCtxRetainFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, Int32) -> Int32
typealias CUPrimaryCtxReleaseFn = @convention(c) (Int32) -> Int32
typealias CUHandleFn = @convention(c) (OpaquePointer?) -> Int32
typealias CUModuleLoadDataFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UnsafeRawPointer?) -> Int32
typealias CUModuleGetFunctionFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, OpaquePointer?, UnsafePointer<CChar>?) -> Int32
typealias CUFuncSetAttributeFn = @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
typealias CUFuncGetAttributeFn = @convention(c) (UnsafeMutablePointer<Int32>?, Int32, OpaquePointer?) -> Int32
typealias CUMemAllocFn = @convention(c) (UnsafeMutablePointer<UInt64>?, Int) -> Int32
typealias CUMemFreeFn = @convention(c) (UInt64) -> Int32
typealias CUMemcpyHtoDFn = @convention(c) (UInt64, UnsafeRawPointer?, Int) -> Int32
typealias CUMemcpyDtoHFn = @convention(c) (UnsafeMutableRawPointer?, UInt64, Int) -> Int32
typealias CUMemsetD32Fn = @convention(c) (UInt64, UInt32, Int) -> Int32
typealias CULaunchKernelFn = @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                                             OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                             UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
typealias CUEventCreateFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UInt32) -> Int32
typealias CUEventRecordFn = @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32
typealias CUEventElapsedFn = @convention(c) (UnsafeMutablePointer<Float>?, OpaquePointer?, OpaquePointer?) -> Int32
typealias CUGetErrorNameFn = @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32
typealias CUStreamCreateFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UInt32) -> Int32
typealias CUStreamBeginCaptureFn = @convention(c) (OpaquePointer?, Int32) -> Int32
typealias CUStreamEndCaptureFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
typealias CUGraphInstantiateFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, OpaquePointer?, UInt64) -> Int32
typealias CUGraphGetNodesFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<Int>?) -> Int32
typealias CUGraphLaunchFn = @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32

/// Stream capture and graph replay (CUDA 11.4+), used to time kernels without the host's
/// launch gaps, the way vendor baselines are timed from CUDA graphs. Optional: a driver
/// without them times with direct launches.
struct GraphAPI: @unchecked Sendable {
    let cuStreamCreate: CUStreamCreateFn
    let cuStreamDestroy: CUHandleFn
    let cuStreamBeginCapture: CUStreamBeginCaptureFn
    let cuStreamEndCapture: CUStreamEndCaptureFn
    let cuGraphInstantiateWithFlags: CUGraphInstantiateFn
    let cuGraphGetNodes: CUGraphGetNodesFn
    let cuGraphLaunch: CUGraphLaunchFn
    let cuGraphExecDestroy: CUHandleFn
    let cuGraphDestroy: CUHandleFn

    init?(_ lib: DynamicLibrary) {
        guard let create = lib.optionalSymbol("cuStreamCreate", as: CUStreamCreateFn.self),
              let destroy = lib.optionalSymbol("cuStreamDestroy_v2", as: CUHandleFn.self),
              let begin = lib.optionalSymbol("cuStreamBeginCapture_v2", as: CUStreamBeginCaptureFn.self),
              let end = lib.optionalSymbol("cuStreamEndCapture", as: CUStreamEndCaptureFn.self),
              let instantiate = lib.optionalSymbol("cuGraphInstantiateWithFlags", as: CUGraphInstantiateFn.self),
              let nodes = lib.optionalSymbol("cuGraphGetNodes", as: CUGraphGetNodesFn.self),
              let launch = lib.optionalSymbol("cuGraphLaunch", as: CUGraphLaunchFn.self),
              let execDestroy = lib.optionalSymbol("cuGraphExecDestroy", as: CUHandleFn.self),
              let graphDestroy = lib.optionalSymbol("cuGraphDestroy", as: CUHandleFn.self)
        else { return nil }
        cuStreamCreate = create; cuStreamDestroy = destroy; cuStreamBeginCapture = begin; cuStreamEndCapture = end
        cuGraphInstantiateWithFlags = instantiate; cuGraphGetNodes = nodes; cuGraphLaunch = launch
        cuGraphExecDestroy = execDestroy; cuGraphDestroy = graphDestroy
    }
}

/// CUdevice_attribute values used by the probe (cuda.h).
enum CUDeviceAttribute: Int32 {
    case maxThreadsPerBlock = 1
    case maxSharedMemoryPerBlock = 8
    case warpSize = 10
    case maxRegistersPerBlock = 12
    case clockRate = 13 // kHz
    case multiprocessorCount = 16
    case memoryClockRate = 36 // kHz
    case globalMemoryBusWidth = 37 // bits
    case l2CacheSize = 38
    case maxThreadsPerMultiprocessor = 39
    case computeCapabilityMajor = 75
    case computeCapabilityMinor = 76
    case maxSharedMemoryPerMultiprocessor = 81
    case maxRegistersPerMultiprocessor = 82
    case maxSharedMemoryPerBlockOptin = 97
}

/// CUfunction_attribute values.
enum CUFunctionAttribute: Int32 {
    case numRegs = 4
    case maxDynamicSharedSizeBytes = 8
}

/// The CUDA driver API subset; all entry points resolved when loaded.
struct DriverAPI: @unchecked Sendable {
    let library: DynamicLibrary
    let cuInit: CUInitFn
    let cuDriverGetVersion: CUIntOutFn
    let cuDeviceGetCount: CUIntOutFn
    let cuDeviceGet: CUDeviceGetFn
    let cuDeviceGetAttribute: CUDeviceGetAttributeFn
    let cuDeviceGetName: CUDeviceGetNameFn
    let cuDeviceTotalMem: CUDeviceTotalMemFn
    let cuDevicePrimaryCtxRetain: CUPrimaryCtxRetainFn
    let cuDevicePrimaryCtxRelease: CUPrimaryCtxReleaseFn
    let cuCtxSetCurrent: CUHandleFn
    let cuCtxSynchronize: CUResultFn0
    let cuModuleLoadData: CUModuleLoadDataFn
    let cuModuleUnload: CUHandleFn
    let cuModuleGetFunction: CUModuleGetFunctionFn
    let cuFuncSetAttribute: CUFuncSetAttributeFn
    let cuFuncGetAttribute: CUFuncGetAttributeFn
    let cuMemAlloc: CUMemAllocFn
    let cuMemFree: CUMemFreeFn
    let cuMemcpyHtoD: CUMemcpyHtoDFn
    let cuMemcpyDtoH: CUMemcpyDtoHFn
    let cuMemsetD32: CUMemsetD32Fn
    let cuLaunchKernel: CULaunchKernelFn
    let cuEventCreate: CUEventCreateFn
    let cuEventRecord: CUEventRecordFn
    let cuEventQuery: CUHandleFn
    let cuEventSynchronize: CUHandleFn
    let cuEventElapsedTime: CUEventElapsedFn
    let cuEventDestroy: CUHandleFn
    let cuGetErrorName: CUGetErrorNameFn?
    let graphs: GraphAPI?

    /// Opens `path`, or the system's driver (`libcuda.so.1`, then `libcuda.so`) when nil.
    static func load(path: String? = nil) throws(CUDAError) -> DriverAPI {
        let names = path.map { [$0] } ?? ["libcuda.so.1", "libcuda.so"]
        guard let lib = names.lazy.compactMap({ DynamicLibrary.open($0) }).first else {
            throw CUDAError(kind: .noDriver, function: "dlopen(\(names[0]))", message: DynamicLibrary.lastError())
        }
        // CUDA 12.8+ adds a _v2; the original stays exported for compatibility.
        let elapsed: CUEventElapsedFn
        if let e = lib.optionalSymbol("cuEventElapsedTime_v2", as: CUEventElapsedFn.self) { elapsed = e } else {
            elapsed = try lib.symbol("cuEventElapsedTime", as: CUEventElapsedFn.self)
        }
        return DriverAPI(
            library: lib,
            cuInit: try lib.symbol("cuInit", as: CUInitFn.self),
            cuDriverGetVersion: try lib.symbol("cuDriverGetVersion", as: CUIntOutFn.self),
            cuDeviceGetCount: try lib.symbol("cuDeviceGetCount", as: CUIntOutFn.self),
            cuDeviceGet: try lib.symbol("cuDeviceGet", as: CUDeviceGetFn.self),
            cuDeviceGetAttribute: try lib.symbol("cuDeviceGetAttribute", as: CUDeviceGetAttributeFn.self),
            cuDeviceGetName: try lib.symbol("cuDeviceGetName", as: CUDeviceGetNameFn.self),
            cuDeviceTotalMem: try lib.symbol("cuDeviceTotalMem_v2", as: CUDeviceTotalMemFn.self),
            // Primary contexts: stable across CUDA 12 and 13 (cuCtxCreate changed in 13) and
            // shared with the runtime that cuBLAS uses.
            cuDevicePrimaryCtxRetain: try lib.symbol("cuDevicePrimaryCtxRetain", as: CUPrimaryCtxRetainFn.self),
            cuDevicePrimaryCtxRelease: try lib.symbol("cuDevicePrimaryCtxRelease_v2", as: CUPrimaryCtxReleaseFn.self),
            cuCtxSetCurrent: try lib.symbol("cuCtxSetCurrent", as: CUHandleFn.self),
            cuCtxSynchronize: try lib.symbol("cuCtxSynchronize", as: CUResultFn0.self),
            cuModuleLoadData: try lib.symbol("cuModuleLoadData", as: CUModuleLoadDataFn.self),
            cuModuleUnload: try lib.symbol("cuModuleUnload", as: CUHandleFn.self),
            cuModuleGetFunction: try lib.symbol("cuModuleGetFunction", as: CUModuleGetFunctionFn.self),
            cuFuncSetAttribute: try lib.symbol("cuFuncSetAttribute", as: CUFuncSetAttributeFn.self),
            cuFuncGetAttribute: try lib.symbol("cuFuncGetAttribute", as: CUFuncGetAttributeFn.self),
            cuMemAlloc: try lib.symbol("cuMemAlloc_v2", as: CUMemAllocFn.self),
            cuMemFree: try lib.symbol("cuMemFree_v2", as: CUMemFreeFn.self),
            cuMemcpyHtoD: try lib.symbol("cuMemcpyHtoD_v2", as: CUMemcpyHtoDFn.self),
            cuMemcpyDtoH: try lib.symbol("cuMemcpyDtoH_v2", as: CUMemcpyDtoHFn.self),
            cuMemsetD32: try lib.symbol("cuMemsetD32_v2", as: CUMemsetD32Fn.self),
            cuLaunchKernel: try lib.symbol("cuLaunchKernel", as: CULaunchKernelFn.self),
            cuEventCreate: try lib.symbol("cuEventCreate", as: CUEventCreateFn.self),
            cuEventRecord: try lib.symbol("cuEventRecord", as: CUEventRecordFn.self),
            cuEventQuery: try lib.symbol("cuEventQuery", as: CUHandleFn.self),
            cuEventSynchronize: try lib.symbol("cuEventSynchronize", as: CUHandleFn.self),
            cuEventElapsedTime: elapsed,
            cuEventDestroy: try lib.symbol("cuEventDestroy_v2", as: CUHandleFn.self),
            cuGetErrorName: lib.optionalSymbol("cuGetErrorName", as: CUGetErrorNameFn.self),
            graphs: GraphAPI(lib)
        )
    }

    /// Turns a CUresult into a typed error naming the call.
    func check(_ result: Int32, _ function: String) throws(CUDAError) {
        guard result != 0 else { return }
        throw error(result, function)
    }

    func error(_ result: Int32, _ function: String) -> CUDAError {
        var name = driverCodeName(result)
        if let f = cuGetErrorName {
            var p: UnsafePointer<CChar>? = nil
            if f(result, &p) == 0, let p { name = String(cString: p) }
        }
        return CUDAError(kind: .driver, function: function, code: result, codeName: name)
    }
}

typealias NVRTCCreateProgramFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                                                 Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
typealias NVRTCCompileProgramFn = @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
typealias NVRTCSizeFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?) -> Int32
typealias NVRTCBytesFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?) -> Int32
typealias NVRTCDestroyFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> Int32
typealias NVRTCVersionFn = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?) -> Int32

struct NVRTCAPI: @unchecked Sendable {
    let library: DynamicLibrary
    var path: String { library.path }
    let nvrtcVersion: NVRTCVersionFn
    let nvrtcCreateProgram: NVRTCCreateProgramFn
    let nvrtcCompileProgram: NVRTCCompileProgramFn
    let nvrtcGetProgramLogSize: NVRTCSizeFn
    let nvrtcGetProgramLog: NVRTCBytesFn
    let nvrtcGetCUBINSize: NVRTCSizeFn
    let nvrtcGetCUBIN: NVRTCBytesFn
    let nvrtcDestroyProgram: NVRTCDestroyFn

    static func load(settings: CUDALibrarySettings) throws(CUDAError) -> NVRTCAPI {
        let names = ["libnvrtc.so.13", "libnvrtc.so.12"]
        let candidates = librarySearchList(fileNames: names, explicit: settings.nvrtcPath, envVar: "TUNEFLEET_NVRTC",
                                           env: settings.environment,
                                           wheelSubdirs: ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib", "nvidia/cu12/lib"])
        let lib = try openFirst(candidates, what: "NVRTC (libnvrtc.so.13 or .12)")
        // NVRTC dlopens libnvrtc-builtins by name at compile time; the PyPI wheel has no
        // RUNPATH for it, so load it from the same folder first (found then by soname).
        preloadSiblings(of: lib.path, pattern: "libnvrtc-builtins.so.*")
        return NVRTCAPI(
            library: lib,
            nvrtcVersion: try lib.symbol("nvrtcVersion", as: NVRTCVersionFn.self),
            nvrtcCreateProgram: try lib.symbol("nvrtcCreateProgram", as: NVRTCCreateProgramFn.self),
            nvrtcCompileProgram: try lib.symbol("nvrtcCompileProgram", as: NVRTCCompileProgramFn.self),
            nvrtcGetProgramLogSize: try lib.symbol("nvrtcGetProgramLogSize", as: NVRTCSizeFn.self),
            nvrtcGetProgramLog: try lib.symbol("nvrtcGetProgramLog", as: NVRTCBytesFn.self),
            nvrtcGetCUBINSize: try lib.symbol("nvrtcGetCUBINSize", as: NVRTCSizeFn.self),
            nvrtcGetCUBIN: try lib.symbol("nvrtcGetCUBIN", as: NVRTCBytesFn.self),
            nvrtcDestroyProgram: try lib.symbol("nvrtcDestroyProgram", as: NVRTCDestroyFn.self)
        )
    }

    func check(_ result: Int32, _ function: String) throws(CUDAError) {
        guard result != 0 else { return }
        throw CUDAError(kind: .nvrtc, function: function, code: result, codeName: nvrtcCodeName(result))
    }
}

/// Opens, globally, the libraries matching `pattern` next to `path` (no-op for bare names).
func preloadSiblings(of path: String, pattern: String) {
    guard let slash = path.lastIndex(of: "/") else { return }
    let dir = String(path[..<slash])
    for p in globPaths(dir + "/" + pattern).sorted() where !p.contains(".alt.") {
        _ = dlopen(p, RTLD_NOW | RTLD_GLOBAL)
    }
}

typealias CUBLASCreateFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> Int32
typealias CUBLASHandleFn = @convention(c) (OpaquePointer?) -> Int32
typealias CUBLASSetMathModeFn = @convention(c) (OpaquePointer?, Int32) -> Int32
typealias CUBLASSgemmFn = @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32,
                                          UnsafePointer<Float>?, UInt64, Int32, UInt64, Int32,
                                          UnsafePointer<Float>?, UInt64, Int32) -> Int32
typealias CUBLASSgemmStridedBatchedFn = @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32,
                                                        UnsafePointer<Float>?, UInt64, Int32, Int64, UInt64, Int32, Int64,
                                                        UnsafePointer<Float>?, UInt64, Int32, Int64, Int32) -> Int32

typealias CUBLASSetStreamFn = @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32

struct CUBLASAPI: @unchecked Sendable {
    let library: DynamicLibrary
    var path: String { library.path }
    let cublasCreate: CUBLASCreateFn
    let cublasDestroy: CUBLASHandleFn
    let cublasSetMathMode: CUBLASSetMathModeFn
    let cublasSgemm: CUBLASSgemmFn
    let cublasSgemmStridedBatched: CUBLASSgemmStridedBatchedFn
    /// Puts the handle's work on a stream (so a graph can capture it); optional.
    let cublasSetStream: CUBLASSetStreamFn?

    static func load(settings: CUDALibrarySettings) throws(CUDAError) -> CUBLASAPI {
        let names = ["libcublas.so.13", "libcublas.so.12"]
        let candidates = librarySearchList(fileNames: names, explicit: settings.cublasPath, envVar: "TUNEFLEET_CUBLAS",
                                           env: settings.environment,
                                           wheelSubdirs: ["nvidia/cu13/lib", "nvidia/cublas/lib", "nvidia/cu12/lib"])
        // cuBLAS needs cublasLt from the same folder.
        for c in candidates where c.contains("/") && access(c, F_OK) == 0 {
            preloadSiblings(of: c, pattern: "libcublasLt.so.1*")
            break
        }
        let lib = try openFirst(candidates, what: "cuBLAS (libcublas.so.13 or .12)")
        return CUBLASAPI(
            library: lib,
            cublasCreate: try lib.symbol("cublasCreate_v2", as: CUBLASCreateFn.self),
            cublasDestroy: try lib.symbol("cublasDestroy_v2", as: CUBLASHandleFn.self),
            cublasSetMathMode: try lib.symbol("cublasSetMathMode", as: CUBLASSetMathModeFn.self),
            cublasSgemm: try lib.symbol("cublasSgemm_v2", as: CUBLASSgemmFn.self),
            cublasSgemmStridedBatched: try lib.symbol("cublasSgemmStridedBatched", as: CUBLASSgemmStridedBatchedFn.self),
            cublasSetStream: lib.optionalSymbol("cublasSetStream_v2", as: CUBLASSetStreamFn.self)
        )
    }

    func check(_ result: Int32, _ function: String) throws(CUDAError) {
        guard result != 0 else { return }
        throw CUDAError(kind: .cublas, function: function, code: result, codeName: cublasCodeName(result))
    }
}
