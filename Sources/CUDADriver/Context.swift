import TuneCore

/// A device buffer: its address and size. Freed by its context.
public struct DeviceBuffer: Hashable, Sendable {
    public let address: UInt64
    public let bytes: Int
}

/// A loaded module's kernel entry.
public struct CUDAFunction: @unchecked Sendable {
    let handle: OpaquePointer
    public let name: String
}

/// Owner of the device's primary context in this process (the worker). Every call that
/// fails is turned into a `CUDAError`; a sticky one (illegal address, launch failure) or a
/// timeout marks the context `poisoned`, after which every call fails fast: the worker
/// process must exit and be restarted.
///
/// Not Sendable: CUDA's current context is per thread, so one context object lives on the
/// one thread that measures.
public final class CUDAContext {
    let api: DriverAPI
    public let ordinal: Int
    let device: Int32
    private var context: OpaquePointer?
    private var modules: [OpaquePointer] = []
    private var allocations: Set<UInt64> = []
    /// The first error that left the context unusable.
    public private(set) var poisoned: CUDAError?
    /// Where launches and event records go: nil (the legacy default stream), or the replay
    /// stream while a graph is being captured.
    public private(set) var stream: OpaquePointer?
    /// A non-blocking stream for graph capture and replay, created on first use.
    private var replayStream: OpaquePointer?

    public init(ordinal: Int = 0, libraries: CUDALibraries = .shared) throws(CUDAError) {
        api = try libraries.driver()
        self.ordinal = ordinal
        try api.check(api.cuInit(0), "cuInit")
        var count: Int32 = 0
        try api.check(api.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard ordinal >= 0, ordinal < Int(count) else {
            throw CUDAError(kind: .invalidArgument, function: "cuDeviceGet",
                            message: "device \(ordinal) requested, \(count) present")
        }
        var dev: Int32 = 0
        try api.check(api.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet")
        device = dev
        var ctx: OpaquePointer? = nil
        try api.check(api.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        context = ctx
        try api.check(api.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    }

    deinit {
        // A poisoned context cannot free anything; the process is about to exit anyway.
        if poisoned == nil {
            for a in allocations { _ = api.cuMemFree(a) }
            for m in modules { _ = api.cuModuleUnload(m) }
            if let s = replayStream, let g = api.graphs { _ = g.cuStreamDestroy(s) }
        }
        if context != nil { _ = api.cuDevicePrimaryCtxRelease(device) }
    }

    /// Runs a driver call, recording sticky errors.
    func call(_ result: Int32, _ function: String) throws(CUDAError) {
        guard result != 0 else { return }
        let e = api.error(result, function)
        if e.poisonsContext, poisoned == nil { poisoned = e }
        throw e
    }

    func ensureUsable() throws(CUDAError) {
        if let p = poisoned {
            throw CUDAError(kind: p.kind, function: p.function, code: p.code, codeName: p.codeName,
                            message: "context unusable after an earlier error; restart the process")
        }
    }

    /// The device's properties (see `CUDAProbe`).
    public func profile() throws(CUDAError) -> DeviceProfile {
        try CUDAProbe.profile(api: api, device: device)
    }

    // MARK: modules

    public func loadModule(cubin: [UInt8]) throws(CUDAError) -> OpaquePointer {
        try ensureUsable()
        var module: OpaquePointer? = nil
        let r = cubin.withUnsafeBytes { raw in api.cuModuleLoadData(&module, raw.baseAddress) }
        try call(r, "cuModuleLoadData")
        guard let m = module else { throw CUDAError(kind: .driver, function: "cuModuleLoadData", message: "null module") }
        modules.append(m)
        return m
    }

    public func function(_ module: OpaquePointer, name: String) throws(CUDAError) -> CUDAFunction {
        var f: OpaquePointer? = nil
        try call(api.cuModuleGetFunction(&f, module, name), "cuModuleGetFunction(\(name))")
        guard let f else { throw CUDAError(kind: .driver, function: "cuModuleGetFunction(\(name))", message: "null function") }
        return CUDAFunction(handle: f, name: name)
    }

    /// Allows `bytes` of dynamic shared memory (needed above the 48 KiB default, up to the
    /// device's opt-in limit).
    public func setMaxDynamicSharedMemory(_ f: CUDAFunction, bytes: Int) throws(CUDAError) {
        try call(api.cuFuncSetAttribute(f.handle, CUFunctionAttribute.maxDynamicSharedSizeBytes.rawValue, Int32(bytes)),
                 "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES=\(bytes))")
    }

    public func registers(_ f: CUDAFunction) throws(CUDAError) -> Int {
        var v: Int32 = 0
        try call(api.cuFuncGetAttribute(&v, CUFunctionAttribute.numRegs.rawValue, f.handle), "cuFuncGetAttribute(NUM_REGS)")
        return Int(v)
    }

    // MARK: memory

    public func allocate(bytes: Int) throws(CUDAError) -> DeviceBuffer {
        try ensureUsable()
        var p: UInt64 = 0
        try call(api.cuMemAlloc(&p, max(bytes, 4)), "cuMemAlloc_v2(\(bytes))")
        allocations.insert(p)
        return DeviceBuffer(address: p, bytes: bytes)
    }

    public func free(_ b: DeviceBuffer) {
        guard allocations.remove(b.address) != nil, poisoned == nil else { return }
        _ = api.cuMemFree(b.address)
    }

    public func upload(_ host: [Float], to b: DeviceBuffer) throws(CUDAError) {
        guard host.count * 4 <= b.bytes else {
            throw CUDAError(kind: .invalidArgument, function: "cuMemcpyHtoD_v2", message: "\(host.count) floats exceed \(b.bytes) bytes")
        }
        let r = host.withUnsafeBytes { raw in api.cuMemcpyHtoD(b.address, raw.baseAddress, raw.count) }
        try call(r, "cuMemcpyHtoD_v2")
    }

    public func download(_ b: DeviceBuffer, count: Int) throws(CUDAError) -> [Float] {
        guard count * 4 <= b.bytes else {
            throw CUDAError(kind: .invalidArgument, function: "cuMemcpyDtoH_v2", message: "\(count) floats exceed \(b.bytes) bytes")
        }
        var out = [Float](repeating: 0, count: count)
        let r = out.withUnsafeMutableBytes { raw in api.cuMemcpyDtoH(raw.baseAddress, b.address, raw.count) }
        try call(r, "cuMemcpyDtoH_v2")
        return out
    }

    /// Fills `count` 32-bit words with `pattern` (e.g. a NaN, to poison outputs).
    public func fill(_ b: DeviceBuffer, pattern: UInt32, count: Int) throws(CUDAError) {
        try call(api.cuMemsetD32(b.address, pattern, min(count, b.bytes / 4)), "cuMemsetD32_v2")
    }

    // MARK: execution

    /// Launches on the default stream. `arguments` are the kernel's pointer parameters.
    public func launch(_ f: CUDAFunction, grid: [Int], block: [Int], sharedBytes: Int,
                       arguments: [DeviceBuffer]) throws(CUDAError) {
        var addresses = arguments.map(\.address)
        try launch(f, grid: grid, block: block, sharedBytes: sharedBytes, addresses: &addresses)
    }

    func launch(_ f: CUDAFunction, grid: [Int], block: [Int], sharedBytes: Int,
                addresses: inout [UInt64]) throws(CUDAError) {
        try ensureUsable()
        func dim(_ a: [Int], _ i: Int) -> UInt32 { i < a.count ? UInt32(clamping: a[i]) : 1 }
        let count = addresses.count
        let r = addresses.withUnsafeMutableBufferPointer { addrs -> Int32 in
            var params = [UnsafeMutableRawPointer?](repeating: nil, count: count)
            for i in 0..<count { params[i] = UnsafeMutableRawPointer(addrs.baseAddress! + i) }
            return params.withUnsafeMutableBufferPointer { p in
                api.cuLaunchKernel(f.handle, dim(grid, 0), dim(grid, 1), dim(grid, 2), dim(block, 0), dim(block, 1),
                                   dim(block, 2), UInt32(clamping: sharedBytes), stream, p.baseAddress, nil)
            }
        }
        try call(r, "cuLaunchKernel(\(f.name))")
    }

    /// Waits for all work; surfaces asynchronous errors (illegal address, ...).
    public func synchronize() throws(CUDAError) {
        try call(api.cuCtxSynchronize(), "cuCtxSynchronize")
    }

    // MARK: events

    public func makeEvent() throws(CUDAError) -> CUDAEvent {
        var e: OpaquePointer? = nil
        try call(api.cuEventCreate(&e, 0), "cuEventCreate")
        guard let e else { throw CUDAError(kind: .driver, function: "cuEventCreate", message: "null event") }
        return CUDAEvent(handle: e, api: api)
    }

    public func record(_ e: CUDAEvent) throws(CUDAError) {
        try call(api.cuEventRecord(e.handle, stream), "cuEventRecord")
    }

    // MARK: graphs

    /// Captures the launches `body` makes (through this context, or a library put on
    /// `stream`) into a CUDA graph, without running them. Nil where the driver has no graph
    /// entry points, the capture failed, or nothing was captured: the caller then launches
    /// directly. A `body` error that poisons the context is rethrown.
    public func captureGraph(_ body: () throws(CUDAError) -> Void) throws(CUDAError) -> CUDAGraph? {
        guard let g = api.graphs else { return nil }
        try ensureUsable()
        if replayStream == nil {
            var s: OpaquePointer? = nil
            guard g.cuStreamCreate(&s, 1) == 0, let s else { return nil } // 1: CU_STREAM_NON_BLOCKING
            replayStream = s
        }
        // Work queued on the default stream must not overlap the replay stream's.
        try synchronize()
        guard g.cuStreamBeginCapture(replayStream, 2) == 0 else { return nil } // 2: relaxed mode
        stream = replayStream
        var bodyError: CUDAError? = nil
        do { try body() } catch { bodyError = error }
        stream = nil
        var graph: OpaquePointer? = nil
        let ended = g.cuStreamEndCapture(replayStream, &graph)
        if let e = bodyError, e.poisonsContext {
            if let graph { _ = g.cuGraphDestroy(graph) }
            throw e
        }
        guard ended == 0, bodyError == nil, let graph else {
            if let graph { _ = g.cuGraphDestroy(graph) }
            return nil
        }
        var nodes = 0
        var exec: OpaquePointer? = nil
        guard g.cuGraphGetNodes(graph, nil, &nodes) == 0, nodes > 0,
              g.cuGraphInstantiateWithFlags(&exec, graph, 0) == 0, let exec else {
            _ = g.cuGraphDestroy(graph)
            return nil
        }
        return CUDAGraph(api: g, graph: graph, exec: exec, nodes: nodes)
    }

    /// Launches `graph` `times` times back to back on the replay stream, between `start`
    /// and `stop` recorded on that stream.
    public func replay(_ graph: CUDAGraph, times: Int, from start: CUDAEvent, to stop: CUDAEvent) throws(CUDAError) {
        try ensureUsable()
        try call(api.cuEventRecord(start.handle, replayStream), "cuEventRecord")
        for _ in 0..<max(1, times) { try call(graph.api.cuGraphLaunch(graph.exec, replayStream), "cuGraphLaunch") }
        try call(api.cuEventRecord(stop.handle, replayStream), "cuEventRecord")
    }

    /// Waits for `e`, polling so that a kernel that never finishes becomes a `.timeout`
    /// error (and poisons the context) instead of blocking the worker forever.
    public func wait(_ e: CUDAEvent, timeoutSeconds: Double) throws(CUDAError) {
        let deadline = monotonicSeconds() + timeoutSeconds
        var pause = 20
        while true {
            let r = api.cuEventQuery(e.handle)
            if r == 0 { return }
            if r != 600 { try call(r, "cuEventQuery") } // 600: CUDA_ERROR_NOT_READY
            if monotonicSeconds() > deadline {
                let err = CUDAError(kind: .timeout, function: "cuEventQuery",
                                    message: "kernel still running after \(timeoutSeconds) s")
                if poisoned == nil { poisoned = err }
                throw err
            }
            sleepMicroseconds(pause)
            pause = min(pause * 2, 2000)
        }
    }

    /// Seconds between two recorded, completed events.
    public func elapsed(from a: CUDAEvent, to b: CUDAEvent) throws(CUDAError) -> Double {
        var ms: Float = 0
        try call(api.cuEventElapsedTime(&ms, a.handle, b.handle), "cuEventElapsedTime")
        return Double(ms) * 1e-3
    }
}

/// An instantiated CUDA graph (see `CUDAContext.captureGraph`).
public final class CUDAGraph {
    let api: GraphAPI
    let graph: OpaquePointer
    let exec: OpaquePointer
    /// Kernel nodes and other operations captured.
    public let nodes: Int
    init(api: GraphAPI, graph: OpaquePointer, exec: OpaquePointer, nodes: Int) {
        self.api = api; self.graph = graph; self.exec = exec; self.nodes = nodes
    }
    deinit { _ = api.cuGraphExecDestroy(exec); _ = api.cuGraphDestroy(graph) }
}

public final class CUDAEvent {
    let handle: OpaquePointer
    let api: DriverAPI
    init(handle: OpaquePointer, api: DriverAPI) { self.handle = handle; self.api = api }
    deinit { _ = api.cuEventDestroy(handle) }
}
