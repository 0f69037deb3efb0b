import TuneCore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// The measurement method shared by every CPU kernel and the vendor library: warm-up,
/// then `repeats` samples (more while their spread is above the plan's target, see
/// `MeasurePlan.wantsAnotherSample`), each the mean of an inner loop that runs at least
/// `minRepeatSeconds`, optionally after flushing the caches. All samples are returned.
public struct TimingHarness {
    public var plan: MeasurePlan
    /// Bytes to overwrite before each repeat when the plan asks for a cache flush.
    public var flushBytes: Int

    public init(plan: MeasurePlan, flushBytes: Int) { self.plan = plan; self.flushBytes = flushBytes }

    public enum Failure: Error { case kernelFailed(Int32) }

    public func samples(_ run: () -> Int32) throws(Failure) -> [Double] {
        for _ in 0..<max(plan.warmupRuns, 0) {
            let rc = run()
            if rc != 0 { throw .kernelFailed(rc) }
        }
        // Calibrate the inner loop from one timed run.
        let t0 = Monotonic.now()
        let rc0 = run()
        if rc0 != 0 { throw .kernelFailed(rc0) }
        let once = max(Monotonic.now() - t0, 1e-9)
        let inner = max(1, min(1_000_000, Int((plan.minRepeatSeconds / once).rounded(.up))))
        var flush = plan.flushCache ? [UInt8](repeating: 1, count: max(flushBytes, 1 << 20)) : []
        var out: [Double] = []
        out.reserveCapacity(plan.sampleLimit)
        while plan.wantsAnotherSample(out) {
            let r = out.count
            if plan.flushCache {
                let v = UInt8(truncatingIfNeeded: r)
                flush.withUnsafeMutableBytes { _ = memset($0.baseAddress!, Int32(v), $0.count) }
            }
            let start = Monotonic.now()
            for _ in 0..<inner {
                let rc = run()
                if rc != 0 { throw .kernelFailed(rc) }
            }
            out.append((Monotonic.now() - start) / Double(inner))
        }
        return out
    }
}

