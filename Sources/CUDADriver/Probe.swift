import TuneCore

/// Reads a device's hardware profile through the driver API.
public enum CUDAProbe {
    /// The profile of device `ordinal`. Throws `.noDriver` on a machine without a driver.
    public static func probe(ordinal: Int = 0, libraries: CUDALibraries = .shared) throws(CUDAError) -> DeviceProfile {
        let api = try libraries.driver()
        try api.check(api.cuInit(0), "cuInit")
        var count: Int32 = 0
        try api.check(api.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard ordinal >= 0, ordinal < Int(count) else {
            throw CUDAError(kind: .invalidArgument, function: "cuDeviceGet", message: "device \(ordinal) requested, \(count) present")
        }
        var dev: Int32 = 0
        try api.check(api.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet")
        var profile = try profile(api: api, device: dev)
        if let v = try? NVRTCCompiler(libraries: libraries).version() {
            profile.compilerVersion = "\(v.major).\(v.minor)"
        }
        return profile
    }

    /// FP32 lanes per SM by compute capability (CUDA programming guide, arithmetic
    /// instruction throughput): 64 on GP100/Volta/Turing/A100, 128 on consumer Pascal,
    /// GA10x, Ada, Hopper and Blackwell.
    public static func fp32LanesPerSM(major: Int, minor: Int) -> Int {
        switch (major, minor) {
        case (6, 0), (7, _), (8, 0): return 64
        case (5, _), (6, _), (8, _), (9, _): return 128
        case (10, _), (11, _), (12, _): return 128
        default: return 64
        }
    }

    static func profile(api: DriverAPI, device: Int32) throws(CUDAError) -> DeviceProfile {
        func attr(_ a: CUDeviceAttribute) -> Int {
            var v: Int32 = 0
            // Some attributes (clock rates) are deprecated in newer drivers: 0 when absent.
            return api.cuDeviceGetAttribute(&v, a.rawValue, device) == 0 ? Int(v) : 0
        }
        var nameBytes = [CChar](repeating: 0, count: 256)
        try api.check(api.cuDeviceGetName(&nameBytes, 256, device), "cuDeviceGetName")
        let name = String(decoding: nameBytes.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var driverVersion: Int32 = 0
        try api.check(api.cuDriverGetVersion(&driverVersion), "cuDriverGetVersion")

        var p = DeviceProfile(deviceClass: .cuda, model: name)
        let major = attr(.computeCapabilityMajor), minor = attr(.computeCapabilityMinor)
        p.computeCapability = "\(major).\(minor)"
        p.smCount = attr(.multiprocessorCount)
        p.maxThreadsPerBlock = attr(.maxThreadsPerBlock)
        p.sharedMemPerBlock = attr(.maxSharedMemoryPerBlock)
        p.sharedMemPerBlockOptin = attr(.maxSharedMemoryPerBlockOptin)
        p.registersPerSM = attr(.maxRegistersPerMultiprocessor)
        p.registersPerBlock = attr(.maxRegistersPerBlock)
        p.warpSize = attr(.warpSize)
        p.l2Bytes = attr(.l2CacheSize)
        p.cacheLineBytes = 128
        p.cores = p.smCount
        p.threads = p.smCount * attr(.maxThreadsPerMultiprocessor)
        p.vectorBits = 128 // widest load: float4
        p.clockMHz = Double(attr(.clockRate)) / 1000
        // Double data rate: two transfers per memory clock.
        let memClockKHz = Double(attr(.memoryClockRate)), busBits = Double(attr(.globalMemoryBusWidth))
        p.memoryBandwidthGBs = memClockKHz * 1000 * 2 * busBits / 8 / 1e9
        p.peakGFLOPS = Double(p.smCount * fp32LanesPerSM(major: major, minor: minor)) * 2 * p.clockMHz / 1000
        p.driverVersion = "\(driverVersion / 1000).\((driverVersion % 1000) / 10)"
        p.compiler = "nvrtc"
        if let arch = NVRTCCompiler.architecture(computeCapability: p.computeCapability) {
            p.compilerFlags = ["--gpu-architecture=\(arch)"]
        }
        return p
    }
}
