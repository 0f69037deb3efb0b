import TuneCore

// Conversions between the wire messages and the core's types. Everything arriving is
// re-validated by the core's own initializers: the wire is never trusted.

extension DeviceClass {
    public var wire: Tunefleet_V1_DeviceClass {
        switch self { case .cpu: return .cpu; case .cuda: return .cuda }
    }
    public init(wire: Tunefleet_V1_DeviceClass) throws(WireError) {
        switch wire {
        case .cpu: self = .cpu
        case .cuda: self = .cuda
        default: throw .invalid("unknown device class \(wire.rawValue)")
        }
    }
}

extension MeasureStatus {
    public var wire: Tunefleet_V1_MeasureStatus {
        switch self {
        case .ok: return .ok
        case .invalidSchedule: return .invalidSchedule
        case .compileError: return .compileError
        case .compileTimeout: return .compileTimeout
        case .runtimeError: return .runtimeError
        case .runTimeout: return .runTimeout
        case .wrongAnswer: return .wrongAnswer
        case .agentLost: return .agentLost
        }
    }
    public init(wire: Tunefleet_V1_MeasureStatus) throws(WireError) {
        switch wire {
        case .ok: self = .ok
        case .invalidSchedule: self = .invalidSchedule
        case .compileError: self = .compileError
        case .compileTimeout: self = .compileTimeout
        case .runtimeError: self = .runtimeError
        case .runTimeout: self = .runTimeout
        case .wrongAnswer: self = .wrongAnswer
        case .agentLost: self = .agentLost
        default: throw .invalid("unknown measure status \(wire.rawValue)")
        }
    }
}

extension DeviceProfile {
    public var wire: Tunefleet_V1_DeviceProfile {
        var p = Tunefleet_V1_DeviceProfile()
        p.deviceClass = deviceClass.wire
        p.model = model
        p.fingerprint = fingerprint
        p.cores = UInt32(cores); p.threads = UInt32(threads)
        p.l1DBytes = UInt64(l1dBytes); p.l2Bytes = UInt64(l2Bytes); p.l3Bytes = UInt64(l3Bytes)
        p.cacheLineBytes = UInt32(cacheLineBytes)
        p.isa = isa
        p.vectorBits = UInt32(vectorBits)
        p.compiler = compiler; p.compilerVersion = compilerVersion; p.compilerFlags = compilerFlags
        p.peakGflops = peakGFLOPS; p.clockMhz = clockMHz; p.target = target
        p.smCount = UInt32(smCount); p.maxThreadsPerBlock = UInt32(maxThreadsPerBlock)
        p.sharedMemPerBlock = UInt64(sharedMemPerBlock); p.sharedMemPerBlockOptin = UInt64(sharedMemPerBlockOptin)
        p.registersPerSm = UInt32(registersPerSM); p.registersPerBlock = UInt32(registersPerBlock)
        p.warpSize = UInt32(warpSize); p.computeCapability = computeCapability
        p.memoryBandwidthGbs = memoryBandwidthGBs; p.driverVersion = driverVersion
        return p
    }

    public init(wire p: Tunefleet_V1_DeviceProfile) throws(WireError) {
        for (v, what) in [(p.peakGflops, "peak GFLOPS"), (p.clockMhz, "clock MHz"), (p.memoryBandwidthGbs, "memory bandwidth")] {
            guard v.isFinite, v >= 0 else { throw .invalid("\(what) must be finite and >= 0, got \(v)") }
        }
        self.init(deviceClass: try DeviceClass(wire: p.deviceClass), model: p.model)
        cores = Int(p.cores); threads = Int(p.threads)
        l1dBytes = Int(clamping: p.l1DBytes); l2Bytes = Int(clamping: p.l2Bytes); l3Bytes = Int(clamping: p.l3Bytes)
        cacheLineBytes = Int(p.cacheLineBytes)
        isa = p.isa
        vectorBits = Int(p.vectorBits)
        compiler = p.compiler; compilerVersion = p.compilerVersion; compilerFlags = p.compilerFlags
        peakGFLOPS = p.peakGflops; clockMHz = p.clockMhz; target = p.target
        smCount = Int(p.smCount); maxThreadsPerBlock = Int(p.maxThreadsPerBlock)
        sharedMemPerBlock = Int(clamping: p.sharedMemPerBlock); sharedMemPerBlockOptin = Int(clamping: p.sharedMemPerBlockOptin)
        registersPerSM = Int(p.registersPerSm); registersPerBlock = Int(p.registersPerBlock)
        warpSize = Int(p.warpSize); computeCapability = p.computeCapability
        memoryBandwidthGBs = p.memoryBandwidthGbs; driverVersion = p.driverVersion
    }
}

extension TaskSpec {
    public var wire: Tunefleet_V1_TaskSpec {
        var t = Tunefleet_V1_TaskSpec()
        t.op = op.rawValue
        t.params = params.map { p in var k = Tunefleet_V1_Knob(); k.name = p.name; k.value = Int64(p.value); return k }
        t.dtype = dtype.rawValue
        return t
    }

    public init(wire t: Tunefleet_V1_TaskSpec) throws(WireError) {
        guard let op = OperatorKind(rawValue: t.op) else { throw .invalid("unknown operator '\(t.op)'") }
        guard let dtype = DType(rawValue: t.dtype) else { throw .invalid("unknown dtype '\(t.dtype)'") }
        var params: [String: Int] = [:]
        for k in t.params {
            guard let v = Int(exactly: k.value) else { throw .invalid("parameter \(k.name) out of range") }
            if params.updateValue(v, forKey: k.name) != nil { throw .invalid("parameter \(k.name) given twice") }
        }
        do { try self.init(op: op, params: params, dtype: dtype) } catch { throw .invalid(error.description) }
    }
}

extension Schedule {
    public var wire: [Tunefleet_V1_Knob] {
        knobs.map { k in var w = Tunefleet_V1_Knob(); w.name = k.name; w.value = Int64(k.value); return w }
    }
    public init(wire: [Tunefleet_V1_Knob]) throws(WireError) {
        var v: [String: Int] = [:]
        for k in wire {
            guard let x = Int(exactly: k.value) else { throw .invalid("knob \(k.name) out of range") }
            if v.updateValue(x, forKey: k.name) != nil { throw .invalid("knob \(k.name) given twice") }
        }
        self.init(v)
    }
}

extension MeasurePlan {
    public var wire: Tunefleet_V1_MeasurePlan {
        var p = Tunefleet_V1_MeasurePlan()
        p.warmupRuns = UInt32(warmupRuns); p.repeats = UInt32(repeats); p.minRepeatSeconds = minRepeatSeconds
        p.flushCache = flushCache; p.threads = UInt32(threads)
        p.compileTimeoutSeconds = compileTimeoutSeconds; p.runTimeoutSeconds = runTimeoutSeconds
        p.includeVendorBaseline = includeVendorBaseline
        p.targetSpread = targetSpread; p.maxRepeats = UInt32(maxRepeats)
        return p
    }

    /// Rejects plans a hostile or buggy peer could use to pin an agent forever.
    public init(wire p: Tunefleet_V1_MeasurePlan) throws(WireError) {
        self.init()
        guard p.repeats >= 1, p.repeats <= 1000 else { throw .invalid("repeats must be 1...1000") }
        guard p.warmupRuns <= 1000 else { throw .invalid("warmup runs must be <= 1000") }
        guard p.minRepeatSeconds >= 0, p.minRepeatSeconds <= 10 else { throw .invalid("min repeat seconds must be 0...10") }
        guard p.targetSpread.isFinite, p.targetSpread >= 0, p.targetSpread <= 1 else { throw .invalid("target spread must be 0...1") }
        guard p.maxRepeats <= 1000 else { throw .invalid("max repeats must be <= 1000") }
        guard p.threads >= 1, p.threads <= 1024 else { throw .invalid("threads must be 1...1024") }
        guard p.compileTimeoutSeconds > 0, p.compileTimeoutSeconds <= 3600 else { throw .invalid("compile timeout must be in (0, 3600]") }
        guard p.runTimeoutSeconds > 0, p.runTimeoutSeconds <= 3600 else { throw .invalid("run timeout must be in (0, 3600]") }
        warmupRuns = Int(p.warmupRuns); repeats = Int(p.repeats); minRepeatSeconds = p.minRepeatSeconds
        flushCache = p.flushCache; threads = Int(p.threads)
        compileTimeoutSeconds = p.compileTimeoutSeconds; runTimeoutSeconds = p.runTimeoutSeconds
        includeVendorBaseline = p.includeVendorBaseline
        // A coordinator that predates adaptive repeats sends neither field: fixed repeats.
        targetSpread = p.targetSpread; maxRepeats = Int(p.maxRepeats)
    }
}

extension MeasureResult {
    public func wire(batchID: UInt64) -> Tunefleet_V1_MeasureResult {
        var r = Tunefleet_V1_MeasureResult()
        r.batchID = batchID
        r.candidateID = candidateID
        r.status = status.wire
        r.samples = samples
        r.compileSeconds = compileSeconds
        r.errorText = errorText
        r.detail = detail
        return r
    }

    public init(wire r: Tunefleet_V1_MeasureResult) throws(WireError) {
        let status = try MeasureStatus(wire: r.status)
        guard r.samples.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw .invalid("samples must be finite and >= 0") }
        guard r.compileSeconds.isFinite, r.compileSeconds >= 0 else { throw .invalid("compile_seconds must be finite and >= 0, got \(r.compileSeconds)") }
        if status == .ok && r.samples.isEmpty { throw .invalid("an ok result without samples") }
        self.init(candidateID: r.candidateID, status: status, samples: r.samples, compileSeconds: r.compileSeconds,
                  errorText: r.errorText, detail: r.detail)
    }
}

extension SearchChoice {
    public var wire: Tunefleet_V1_SearchStrategy {
        switch self { case .random: return .random; case .evolutionary: return .evolutionary }
    }
    public init(wire: Tunefleet_V1_SearchStrategy) throws(WireError) {
        switch wire {
        case .random: self = .random
        case .evolutionary: self = .evolutionary
        case .UNRECOGNIZED(let n): throw .invalid("unknown search strategy \(n) (this coordinator knows: \(SearchChoice.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }
}

extension SchedulerChoice {
    public var wire: Tunefleet_V1_TaskScheduler {
        switch self { case .roundRobin: return .roundRobin; case .flops: return .flops; case .gradient: return .gradient }
    }
    public init(wire: Tunefleet_V1_TaskScheduler) throws(WireError) {
        switch wire {
        case .roundRobin: self = .roundRobin
        case .flops: self = .flops
        case .gradient: self = .gradient
        case .UNRECOGNIZED(let n): throw .invalid("unknown task scheduler \(n) (this coordinator knows: \(SchedulerChoice.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }
}
