import TuneCore
/// Resources ptxas reported for one kernel (`--ptxas-options=-v`).
public struct KernelResources: Hashable, Codable, Sendable {
    public var registers: Int = 0
    public var spillStoreBytes: Int = 0
    public var spillLoadBytes: Int = 0
    public var stackFrameBytes: Int = 0
    public var sharedBytes: Int = 0
    public init() {}
}

/// A compiled CUDA module: the CUBIN for one exact architecture and what ptxas said.
public struct CompiledModule: Hashable, Sendable {
    public var cubin: [UInt8]
    public var architecture: String
    public var log: String
    /// Per kernel entry (name as in the source), parsed from the ptxas log.
    public var resources: [String: KernelResources]
    public var compileSeconds: Double

    /// Detail for a measurement record: registers and spills of every entry.
    public var detail: [String: String] { Self.detail(architecture: architecture, resources: resources) }

    /// The record detail of a module for `architecture` with these per-entry resources.
    public static func detail(architecture: String, resources: [String: KernelResources]) -> [String: String] {
        var d: [String: String] = ["arch": architecture]
        for (entry, r) in resources {
            let prefix = resources.count == 1 ? "" : "\(entry)."
            d[prefix + "registers"] = String(r.registers)
            d[prefix + "spill_stores"] = String(r.spillStoreBytes)
            d[prefix + "spill_loads"] = String(r.spillLoadBytes)
            d[prefix + "static_smem"] = String(r.sharedBytes)
        }
        return d
    }
}

/// NVRTC compilation to CUBIN. Needs only NVRTC (no driver, no GPU): it runs on the
/// agent's host threads in parallel and in CI with NVRTC from PyPI.
public struct NVRTCCompiler: Sendable {
    public let libraries: CUDALibraries

    public init(libraries: CUDALibraries = .shared) { self.libraries = libraries }

    /// `sm_XY` for a compute capability `"X.Y"` (nil when malformed).
    public static func architecture(computeCapability: String) -> String? {
        DeviceProfile.cudaArchitecture(computeCapability: computeCapability)
    }

    /// NVRTC's version, e.g. (13, 0).
    public func version() throws(CUDAError) -> (major: Int, minor: Int) {
        let api = try libraries.nvrtc()
        var major: Int32 = 0, minor: Int32 = 0
        try api.check(api.nvrtcVersion(&major, &minor), "nvrtcVersion")
        return (Int(major), Int(minor))
    }

    /// Compiles CUDA C to a CUBIN for `architecture` (e.g. `sm_90`). A CUBIN rather than
    /// PTX because a driver older than NVRTC cannot JIT newer PTX but loads the CUBIN.
    /// Throws `.compile` with the full log when the source does not compile.
    public func compile(source: String, name: String = "tunefleet.cu", architecture: String,
                        extraOptions: [String] = []) throws(CUDAError) -> CompiledModule {
        let api = try libraries.nvrtc()
        let start = monotonicSeconds()
        var program: OpaquePointer? = nil
        try api.check(api.nvrtcCreateProgram(&program, source, name, 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = api.nvrtcDestroyProgram(&program) }
        // No -O3: not an NVRTC option. -v makes ptxas report registers, spills and smem.
        let options = ["--gpu-architecture=\(architecture)", "--ptxas-options=-v", "-std=c++17"] + extraOptions
        let cOptions = options.map { strdupArray($0) }
        defer { for p in cOptions { p.deallocate() } }
        let result = cOptions.map { UnsafePointer<CChar>?(UnsafePointer($0)) }.withUnsafeBufferPointer { buf in
            api.nvrtcCompileProgram(program, Int32(buf.count), buf.baseAddress)
        }
        let log = programLog(api, program)
        if result != 0 {
            throw CUDAError(kind: .compile, function: "nvrtcCompileProgram", code: result,
                            codeName: nvrtcCodeName(result), message: log)
        }
        var size = 0
        try api.check(api.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize")
        var cubin = [UInt8](repeating: 0, count: size)
        let r = cubin.withUnsafeMutableBytes { raw in
            api.nvrtcGetCUBIN(program, raw.baseAddress?.assumingMemoryBound(to: CChar.self))
        }
        try api.check(r, "nvrtcGetCUBIN")
        return CompiledModule(cubin: cubin, architecture: architecture, log: log,
                              resources: Self.parsePtxasLog(log), compileSeconds: monotonicSeconds() - start)
    }

    private func programLog(_ api: NVRTCAPI, _ program: OpaquePointer?) -> String {
        var size = 0
        guard api.nvrtcGetProgramLogSize(program, &size) == 0, size > 1 else { return "" }
        var bytes = [CChar](repeating: 0, count: size)
        guard api.nvrtcGetProgramLog(program, &bytes) == 0 else { return "" }
        return String(decoding: bytes.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Parses ptxas `-v` output: "Compiling entry function 'f'", "N bytes stack frame, N
    /// bytes spill stores, N bytes spill loads", "Used N registers, ... N bytes smem".
    public static func parsePtxasLog(_ log: String) -> [String: KernelResources] {
        var out: [String: KernelResources] = [:]
        var current: String? = nil
        for rawLine in log.split(separator: "\n") {
            let line = String(rawLine)
            if let name = quoted(after: "Compiling entry function", in: line)
                ?? quoted(after: "Function properties for", in: line, bare: true) {
                current = name
                if out[name] == nil { out[name] = KernelResources() }
                continue
            }
            guard let entry = current else { continue }
            var r = out[entry] ?? KernelResources()
            if let v = number(before: "registers", in: line) { r.registers = v }
            if let v = number(before: "bytes spill stores", in: line) { r.spillStoreBytes = v }
            if let v = number(before: "bytes spill loads", in: line) { r.spillLoadBytes = v }
            if let v = number(before: "bytes stack frame", in: line) { r.stackFrameBytes = v }
            if let v = number(before: "bytes smem", in: line) { r.sharedBytes = v }
            out[entry] = r
        }
        return out
    }

    private static func quoted(after marker: String, in line: String, bare: Bool = false) -> String? {
        guard let r = line.range(of: marker) else { return nil }
        let rest = line[r.upperBound...].trimmingCharacters(in: " ")
        if let open = rest.firstIndex(of: "'") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "'") else { return nil }
            return String(after[..<close])
        }
        guard bare else { return nil }
        let name = rest.split(separator: " ").first.map(String.init) ?? ""
        return name.isEmpty ? nil : name
    }

    /// The integer immediately before `suffix` ("Used 40 registers" -> 40).
    private static func number(before suffix: String, in line: String) -> Int? {
        guard let r = line.range(of: suffix) else { return nil }
        let head = line[..<r.lowerBound].trimmingCharacters(in: " ")
        let digits = head.reversed().prefix(while: { $0.isNumber })
        return digits.isEmpty ? nil : Int(String(digits.reversed()))
    }
}

private func strdupArray(_ s: String) -> UnsafeMutablePointer<CChar> {
    let utf8 = Array(s.utf8CString)
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
    p.initialize(from: utf8, count: utf8.count)
    return p
}

extension StringProtocol {
    /// Foundation-free `range(of:)` (the driver stays lean: no Foundation).
    func range(of needle: String) -> Range<Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].starts(with: needle) {
                let end = index(i, offsetBy: needle.count)
                return i..<end
            }
            i = index(after: i)
        }
        return nil
    }

    func trimmingCharacters(in set: Character) -> SubSequence {
        var lo = startIndex, hi = endIndex
        while lo < hi, self[lo] == set || self[lo] == "\t" { lo = index(after: lo) }
        while hi > lo, self[index(before: hi)] == set || self[index(before: hi)] == "\t" || self[index(before: hi)] == "\r" {
            hi = index(before: hi)
        }
        return self[lo..<hi]
    }
}
