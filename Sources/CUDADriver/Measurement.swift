import TuneCore

/// The bit pattern outputs are filled with before the checked run: a quiet NaN with a
/// recognizable payload, so an element the kernel never wrote fails verification. The same
/// bits as KernelReference's `Poison`, so the shared Verifier reports unwritten elements
/// ("poison left") for GPU kernels too.
public let outputPoisonPattern: UInt32 = 0x7FC0_BAD1

/// Times a run closure with CUDA events: warm-up, then `repeats` samples, each the mean of
/// an inner loop long enough to last `minRepeatSeconds` (one run per sample when the cache
/// is flushed, the flush itself outside the timed region).
public struct EventTimer {
    public let context: CUDAContext
    /// A buffer larger than L2, overwritten between samples when the plan flushes caches.
    private var flushBuffer: DeviceBuffer?

    public init(context: CUDAContext, l2Bytes: Int) throws(CUDAError) {
        self.context = context
        flushBuffer = l2Bytes > 0 ? try context.allocate(bytes: 2 * l2Bytes) : nil
    }

    /// Seconds per run, one value per repeat.
    public func samples(plan: MeasurePlan, run: () throws(CUDAError) -> Void) throws(CUDAError) -> [Double] {
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
        var out: [Double] = []
        for _ in 0..<max(1, plan.repeats) {
            if plan.flushCache, let f = flushBuffer {
                try context.fill(f, pattern: 0, count: f.bytes / 4)
            }
            try context.record(start)
            for _ in 0..<inner { try run() }
            try context.record(stop)
            try context.wait(stop, timeoutSeconds: timeout + Double(inner) * once * 4)
            out.append(try context.elapsed(from: start, to: stop) / Double(inner))
        }
        return out
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
        for (i, t) in task.tensors.enumerated() where t.role == .output {
            try context.fill(buffers[i], pattern: outputPoisonPattern, count: t.elementCount)
        }
        let done = try context.makeEvent()
        try run()
        try context.record(done)
        try context.wait(done, timeoutSeconds: timeoutSeconds)
        try context.synchronize()
        var outs: [[Float]] = []
        for (i, t) in task.tensors.enumerated() where t.role == .output {
            outs.append(try context.download(buffers[i], count: t.elementCount))
        }
        return outs
    }

    /// Timing samples (seconds per run) under `plan`.
    public func time(plan: MeasurePlan, l2Bytes: Int) throws(CUDAError) -> [Double] {
        let timer = try EventTimer(context: context, l2Bytes: plan.flushCache ? l2Bytes : 0)
        defer { timer.release() }
        return try timer.samples(plan: plan) { () throws(CUDAError) in try run() }
    }
}
