/// Every failure of the CUDA layer, as data: which call failed, with the library's own
/// result code and name. Compared by kind and code, never by text.
public struct CUDAError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// `libcuda.so.1` could not be loaded: no NVIDIA driver on this machine.
        case noDriver = "no_driver"
        /// A library (NVRTC, cuBLAS) was not found in any searched location.
        case libraryNotFound = "library_not_found"
        /// A library loaded but lacks an entry point we need (too old).
        case missingSymbol = "missing_symbol"
        /// A driver API call returned a CUresult other than CUDA_SUCCESS.
        case driver
        /// An NVRTC call failed (other than the compilation itself).
        case nvrtc
        /// The source did not compile; `message` holds the NVRTC log.
        case compile
        /// A cuBLAS call returned a status other than CUBLAS_STATUS_SUCCESS.
        case cublas
        /// A wait exceeded its deadline (a kernel that does not finish).
        case timeout
        /// The caller passed something unusable (wrong buffer count, bad launch shape).
        case invalidArgument = "invalid_argument"
    }

    public var kind: Kind
    /// The C function that failed (e.g. `cuLaunchKernel`), or the operation.
    public var function: String
    /// CUresult / nvrtcResult / cublasStatus_t; 0 when not applicable.
    public var code: Int32
    /// The code's symbolic name (`CUDA_ERROR_ILLEGAL_ADDRESS`), empty when not applicable.
    public var codeName: String
    public var message: String

    public init(kind: Kind, function: String, code: Int32 = 0, codeName: String = "", message: String = "") {
        self.kind = kind; self.function = function; self.code = code; self.codeName = codeName; self.message = message
    }

    /// CUresults after which the context is unusable: the worker process must restart.
    public static let stickyDriverCodes: Set<Int32> = [
        700, // CUDA_ERROR_ILLEGAL_ADDRESS
        702, // CUDA_ERROR_LAUNCH_TIMEOUT
        714, // CUDA_ERROR_HARDWARE_STACK_ERROR
        715, // CUDA_ERROR_ILLEGAL_INSTRUCTION
        716, // CUDA_ERROR_MISALIGNED_ADDRESS
        717, // CUDA_ERROR_INVALID_ADDRESS_SPACE
        718, // CUDA_ERROR_INVALID_PC
        719, // CUDA_ERROR_LAUNCH_FAILED
        999, // CUDA_ERROR_UNKNOWN
    ]

    /// True when the CUDA context is poisoned (sticky error) or stuck (timeout).
    public var poisonsContext: Bool {
        (kind == .driver && Self.stickyDriverCodes.contains(code)) || kind == .timeout
    }

    public var description: String {
        var s = "\(function) failed"
        if kind == .noDriver { s = "no CUDA driver (\(function))" }
        if !codeName.isEmpty || code != 0 { s += ": \(codeName.isEmpty ? "code" : codeName) (\(code))" }
        if !message.isEmpty { s += ": \(message)" }
        return s
    }
}

/// Names of the CUresults a tuner meets, for when `cuGetErrorName` is unavailable.
func driverCodeName(_ code: Int32) -> String {
    switch code {
    case 0: return "CUDA_SUCCESS"
    case 1: return "CUDA_ERROR_INVALID_VALUE"
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY"
    case 3: return "CUDA_ERROR_NOT_INITIALIZED"
    case 4: return "CUDA_ERROR_DEINITIALIZED"
    case 35: return "CUDA_ERROR_INSUFFICIENT_DRIVER"
    case 100: return "CUDA_ERROR_NO_DEVICE"
    case 101: return "CUDA_ERROR_INVALID_DEVICE"
    case 200: return "CUDA_ERROR_INVALID_IMAGE"
    case 201: return "CUDA_ERROR_INVALID_CONTEXT"
    case 209: return "CUDA_ERROR_NO_BINARY_FOR_GPU"
    case 218: return "CUDA_ERROR_INVALID_PTX"
    case 222: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
    case 400: return "CUDA_ERROR_INVALID_HANDLE"
    case 500: return "CUDA_ERROR_NOT_FOUND"
    case 600: return "CUDA_ERROR_NOT_READY"
    case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS"
    case 701: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"
    case 702: return "CUDA_ERROR_LAUNCH_TIMEOUT"
    case 714: return "CUDA_ERROR_HARDWARE_STACK_ERROR"
    case 715: return "CUDA_ERROR_ILLEGAL_INSTRUCTION"
    case 716: return "CUDA_ERROR_MISALIGNED_ADDRESS"
    case 717: return "CUDA_ERROR_INVALID_ADDRESS_SPACE"
    case 718: return "CUDA_ERROR_INVALID_PC"
    case 719: return "CUDA_ERROR_LAUNCH_FAILED"
    case 999: return "CUDA_ERROR_UNKNOWN"
    default: return ""
    }
}

func nvrtcCodeName(_ code: Int32) -> String {
    let names = ["NVRTC_SUCCESS", "NVRTC_ERROR_OUT_OF_MEMORY", "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
                 "NVRTC_ERROR_INVALID_INPUT", "NVRTC_ERROR_INVALID_PROGRAM", "NVRTC_ERROR_INVALID_OPTION",
                 "NVRTC_ERROR_COMPILATION", "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
                 "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION", "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
                 "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID", "NVRTC_ERROR_INTERNAL_ERROR"]
    return code >= 0 && Int(code) < names.count ? names[Int(code)] : "NVRTC_ERROR_\(code)"
}

func cublasCodeName(_ code: Int32) -> String {
    switch code {
    case 0: return "CUBLAS_STATUS_SUCCESS"
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED"
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED"
    case 7: return "CUBLAS_STATUS_INVALID_VALUE"
    case 8: return "CUBLAS_STATUS_ARCH_MISMATCH"
    case 11: return "CUBLAS_STATUS_MAPPING_ERROR"
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED"
    case 14: return "CUBLAS_STATUS_INTERNAL_ERROR"
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED"
    case 16: return "CUBLAS_STATUS_LICENSE_ERROR"
    default: return "CUBLAS_STATUS_\(code)"
    }
}
