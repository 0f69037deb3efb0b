import TuneCore

/// The bit pattern outputs are filled with before the checked run: a quiet NaN with a
/// recognizable payload, so an element the kernel never wrote fails verification. The same
/// bits as KernelReference's `Poison`, so the shared Verifier reports unwritten elements
/// ("poison left") for GPU kernels too.
public let outputPoisonPattern: UInt32 = 0x7FC0_BAD1

/// How timed runs reached the GPU.
public enum LaunchMethod: String, Sendable {
    /// Runs captured once into a CUDA graph and replayed: GPU time without the host's
    /// per-launch gaps, the way the cuDNN/cuBLAS baselines are timed through torch.
    case graph = "cuda-graph"
    /// Runs launched one by one from the host.
    case stream = "stream"
}

/// Timing samples and how they were taken.
public struct TimedRuns: Sendable {
    public var samples: [Double]
    public var method: LaunchMethod
}

/// Times a run closure with CUDA events: warm-up, then `repeats` samples (more while their
/// spread is above the plan's target: `MeasurePlan.wantsAnotherSample`), each the mean of
/// an inner loop long enough to last `minRepeatSeconds` (one run per sample when the cache
/// is flushed, the flush itself outside the timed region). With `graph`, the inner loop is
/// captured into a CUDA graph of at most `runsPerGraph` runs, replayed as often as needed;
/// where capture is impossible the runs are launched directly and the method says so.
public struct EventTimer {
    public let context: CUDAContext
    /// A buffer larger than L2, overwritten between samples when the plan flushes caches.
    private var flushBuffer: DeviceBuffer?
    /// Graph size cap: replays of one graph amortize the gap between graphs.
    public static let runsPerGraph = 128

    public init(context: CUDAContext, l2Bytes: Int) throws(CUDAError) {
        self.context = context
        flushBuffer = l2Bytes > 0 ? try context.allocate(bytes: 2 * l2Bytes) : nil
    }

    /// Seconds per run, one value per repeat.
    public func samples(plan: MeasurePlan, graph: Bool = false, run: () throws(CUDAError) -> Void) throws(CUDAError) -> TimedRuns {
        let timeout = max(plan.runTimeoutSeconds, 0.1)
        let start = try context.makeEvent(), stop = try context.makeEvent()
        for _ in 0..<max(0, plan.warmupRuns) { try run() }
        // One timed run estimates how many runs fill the minimum repeat time.
        try context.record(start)
        try run()
        try context.record(stop)
        try context.wait(stop, timeoutSeconds: timeout)
        let once = max(try context.elapsed(from: start, to: stop), 1e-7)
        let inner = plan.flushCache ? 1 : max(1, min(100_000, Int((plan.minRepeatSeconds / once).rounded(.up))))
        let waitLimit = timeout + Double(inner) * once * 4
        var out: [Double] = []
        let runsPerGraph = min(inner, Self.runsPerGraph)
        let captured = graph ? try context.captureGraph { () throws(CUDAError) in
            for _ in 0..<runsPerGraph { try run() }
        } : nil
        if let g = captured {
            // The first replay uploads the graph; keep it out of the samples. The second one
            // times a run without launch gaps, which sets how many replays fill a sample
            // (the host-launched estimate above is too long for small kernels).
            try context.replay(g, times: 1, from: start, to: stop)
            try context.wait(stop, timeoutSeconds: waitLimit)
            try context.replay(g, times: 1, from: start, to: stop)
            try context.wait(stop, timeoutSeconds: waitLimit)
            let perReplay = max(try context.elapsed(from: start, to: stop), 1e-7)
            let replays = plan.flushCache ? 1 : max(1, min(100_000 / runsPerGraph, Int((plan.minRepeatSeconds / perReplay).rounded(.up))))
            let waitLimit = timeout + Double(replays) * perReplay * 4
            while plan.wantsAnotherSample(out) {
                try flush()
                try context.replay(g, times: replays, from: start, to: stop)
                try context.wait(stop, timeoutSeconds: waitLimit)
                out.append(try context.elapsed(from: start, to: stop) / Double(replays * runsPerGraph))
            }
            return TimedRuns(samples: out, method: .graph)
        }
        while plan.wantsAnotherSample(out) {
            try flush()
            try context.record(start)
            for _ in 0..<inner { try run() }
            try context.record(stop)
            try context.wait(stop, timeoutSeconds: waitLimit)
            out.append(try context.elapsed(from: start, to: stop) / Double(inner))
        }
        return TimedRuns(samples: out, method: .stream)
    }

    /// Overwrites the flush buffer when the plan asks for cold caches, and waits for it, so
    /// that neither stream's timed work overlaps it.
    private func flush() throws(CUDAError) {
        guard let f = flushBuffer else { return }
        try context.fill(f, pattern: 0, count: f.bytes / 4)
        try context.synchronize()
    }

    public func release() {
        if let f = flushBuffer { context.free(f) }
    }
}

/// One generated kernel loaded for measurement in a worker process: device buffers for
/// every tensor of the task, the module's entries, and the launch sequence of one run.
///
/// Protocol: `upload(inputs:)`, `checkedRun()` (outputs poisoned, one run, outputs copied
/// back for the caller's verifier), then `time(plan:)`. Verification itself is the
/// caller's (the shared `Verifier`).
public final class KernelSession {
    public let context: CUDAContext
    public let task: TaskSpec
    public let kernel: GeneratedKernel
    let buffers: [DeviceBuffer]
    let launches: [(function: CUDAFunction, launch: KernelLaunch)]
    private var addresses: [UInt64]

    public init(context: CUDAContext, kernel: GeneratedKernel, cubin: [UInt8], task: TaskSpec,
                device: DeviceProfile) throws(CUDAError) {
        guard kernel.language == .cuda, !kernel.launches.isEmpty else {
            throw CUDAError(kind: .invalidArgument, function: "KernelSession", message: "not a CUDA kernel with launches")
        }
        self.context = context; self.task = task; self.kernel = kernel
        let module = try context.loadModule(cubin: cubin)
        var ls: [(CUDAFunction, KernelLaunch)] = []
        for l in kernel.launches {
            guard l.block.reduce(1, *) <= max(device.maxThreadsPerBlock, 1) || device.maxThreadsPerBlock == 0 else {
                throw CUDAError(kind: .invalidArgument, function: "KernelSession", message: "block \(l.block) too large")
            }
            let f = try context.function(module, name: l.entry)
            // Above the default 48 KiB a kernel must opt in to its dynamic shared memory.
            if l.sharedMemBytes > 48 * 1024 { try context.setMaxDynamicSharedMemory(f, bytes: l.sharedMemBytes) }
            ls.append((f, l))
        }
        launches = ls
        var bufs: [DeviceBuffer] = []
        for t in task.tensors { bufs.append(try context.allocate(bytes: t.elementCount * task.dtype.byteSize)) }
        buffers = bufs
        addresses = bufs.map(\.address)
    }

    deinit { for b in buffers { context.free(b) } }

    /// Copies host inputs (in `task.tensors` order, inputs only) to the device.
    public func upload(inputs: [[Float]]) throws(CUDAError) {
        let ins = task.tensors.enumerated().filter { $0.element.role == .input }
        guard ins.count == inputs.count else {
            throw CUDAError(kind: .invalidArgument, function: "upload", message: "\(inputs.count) inputs given, \(ins.count) expected")
        }
        for (k, (i, t)) in ins.enumerated() {
            guard inputs[k].count == t.elementCount else {
                throw CUDAError(kind: .invalidArgument, function: "upload",
                                message: "\(t.name): \(inputs[k].count) elements given, \(t.elementCount) expected")
            }
            try context.upload(inputs[k], to: buffers[i])
        }
    }

    /// Launches the run's kernels once, asynchronously.
    public func run() throws(CUDAError) {
        for (f, l) in launches {
            try context.launch(f, grid: l.grid, block: l.block, sharedBytes: l.sharedMemBytes, addresses: &addresses)
        }
    }

    /// Poisons the outputs, runs once, waits (at most `timeoutSeconds`) and returns the
    /// outputs (in `task.tensors` order, outputs only) for verification.
    public func checkedRun(timeoutSeconds: Double) throws(CUDAError) -> [[Float]] {
        try poisonOutputs()
        let done = try context.makeEvent()
        try run()
        try context.record(done)
        try context.wait(done, timeoutSeconds: timeoutSeconds)
        return try outputs()
    }

    /// Fills every output with `outputPoisonPattern`.
    public func poisonOutputs() throws(CUDAError) {
        for (i, t) in task.tensors.enumerated() where t.role == .output {
            try context.fill(buffers[i], pattern: outputPoisonPattern, count: t.elementCount)
        }
    }

    /// Waits for all work and copies the outputs back (in `task.tensors` order, outputs only).
    public func outputs() throws(CUDAError) -> [[Float]] {
        try context.synchronize()
        var outs: [[Float]] = []
        for (i, t) in task.tensors.enumerated() where t.role == .output {
            outs.append(try context.download(buffers[i], count: t.elementCount))
        }
        return outs
    }

    /// Timing samples (seconds per run) under `plan`, replayed from a CUDA graph where the
    /// driver allows it (unless `graph` is false).
    public func time(plan: MeasurePlan, l2Bytes: Int, graph: Bool = true) throws(CUDAError) -> TimedRuns {
        let timer = try EventTimer(context: context, l2Bytes: plan.flushCache ? l2Bytes : 0)
        defer { timer.release() }
        return try timer.samples(plan: plan, graph: graph) { () throws(CUDAError) in try run() }
    }
}
