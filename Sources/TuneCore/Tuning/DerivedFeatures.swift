/// Schedule quantities that mean the same thing on every machine: tile footprints over the
/// memory that should hold them, registers used over registers there, lanes used, work per
/// core or SM, waves, padding waste, loads per FMA. The space that owns the knobs fills
/// them (it knows what each knob means and the device it was built for); slots that do not
/// apply stay 0.
public struct DerivedFeatures: Hashable, Sendable {
    public enum Slot: Int, CaseIterable, Sendable {
        case l1Ratio, l2Ratio, l3Ratio, sharedMemoryRatio, registerRatio, lanesUsed, threadsPerBlockRatio
        case workPerThread, threadsOverCores, blocksPerSM, waves, occupancy
        case padWasteM, padWasteN, padWasteK, loadsPerFMA, log2Unroll, packing
        case l1SetPressureA, l1SetPressureB, packCost, accumulators

        /// Feature name, meaning and unit (the feature document lists these).
        public var documentation: (name: String, meaning: String) {
            switch self {
            case .l1Ratio: return ("l1_ratio", "innermost tile's bytes / L1 data cache (CPU) — ratio")
            case .l2Ratio: return ("l2_ratio", "middle (cache) block's bytes / L2 (CPU), or the block tiles' bytes / L2 (CUDA) — ratio")
            case .l3Ratio: return ("l3_ratio", "outer (cache) block's bytes / L3 (CPU) — ratio")
            case .sharedMemoryRatio: return ("smem_ratio", "shared memory per block / the opt-in maximum per block (CUDA) — ratio")
            case .registerRatio: return ("register_ratio", "live vector registers / architectural vector registers (CPU); estimated registers x threads / registers per block (CUDA) — ratio")
            case .lanesUsed: return ("lanes_used", "vector width used / vector lanes available — ratio")
            case .threadsPerBlockRatio: return ("threads_per_block_ratio", "threads per block / the device's maximum (CUDA) — ratio")
            case .workPerThread: return ("log2_work_per_thread", "log2(1 + parallel work units per thread) — log2 count")
            case .threadsOverCores: return ("threads_over_cores", "threads used / physical cores (CPU) — ratio")
            case .blocksPerSM: return ("log2_blocks_per_sm", "log2(1 + blocks / SMs) (CUDA) — log2 ratio")
            case .waves: return ("waves", "blocks / (SMs x resident blocks per SM), rounded up (CUDA) — count")
            case .occupancy: return ("occupancy", "estimated resident threads per SM / 2048 (CUDA) — ratio")
            case .padWasteM: return ("pad_waste_m", "share of the rows-axis tiling spent on padding — ratio")
            case .padWasteN: return ("pad_waste_n", "share of the columns-axis tiling spent on padding — ratio")
            case .padWasteK: return ("pad_waste_k", "share of the reduction-axis tiling spent on padding — ratio")
            case .loadsPerFMA: return ("loads_per_fma", "operand loads per vector FMA of the micro-kernel — ratio")
            case .log2Unroll: return ("log2_unroll", "log2 of the innermost loop's unroll — log2 count")
            case .packing: return ("packing", "operands packed or staged (0, 1 or 2; double buffering counts 1) — count")
            case .l1SetPressureA: return ("l1_set_pressure_a", "the most cache lines the micro-kernel's A tile (a GEMM's rows operand, read in place or packed) puts in one L1 set, over the L1's ways (L1 bytes / 4 KiB) (CPU) — ratio")
            case .l1SetPressureB: return ("l1_set_pressure_b", "the same for the B tile (a GEMM's columns operand) (CPU) — ratio")
            case .packCost: return ("pack_cost", "floats the kernel copies into packed buffers per vector FMA it runs (a GEMM's A blocks once per column block they meet, B panels once per row block) (CPU) — ratio")
            case .accumulators: return ("log2_accumulators", "log2(1 + independent vector accumulators of the micro-kernel: the FMA chains that hide its latency) (CPU) — log2 count")
            }
        }
    }

    public private(set) var values = [Double](repeating: 0, count: Slot.allCases.count)
    public init() {}

    public subscript(_ slot: Slot) -> Double {
        get { values[slot.rawValue] }
        set { values[slot.rawValue] = newValue.isFinite ? newValue : 0 }
    }

    /// The share of `tile * ceil(extent / tile)` that lies beyond `extent`.
    public static func padWaste(extent: Int, tile: Int) -> Double {
        guard extent > 0, tile > 0 else { return 0 }
        let covered = (extent + tile - 1) / tile * tile
        return Double(covered - extent) / Double(covered)
    }

    /// The most 64-byte lines that `rows` rows of `rowBytes` contiguous bytes, `strideBytes`
    /// apart from an aligned base, put in one set of an L1 whose sets repeat every 4 KiB (64
    /// sets: every x86 L1 data cache, 32 KiB 8-way or 48 KiB 12-way). Rows whose stride is a
    /// multiple of 4 KiB all land on the same sets, which holds no more lines than it has ways.
    public static func linesPerL1Set(rows: Int, rowBytes: Int, strideBytes: Int) -> Int {
        guard rows > 0, rowBytes > 0 else { return 0 }
        let sets = 64, lines = (rowBytes + 63) / 64
        var delta = [Int](repeating: 0, count: sets + 1)
        var everywhere = 0
        for i in 0..<rows {
            let start = (i * strideBytes / 64) % sets
            everywhere += lines / sets
            let rest = lines % sets
            guard rest > 0 else { continue }
            let end = start + rest
            delta[start] += 1
            if end <= sets { delta[end] -= 1 } else { delta[sets] -= 1; delta[0] += 1; delta[end - sets] -= 1 }
        }
        var most = 0, running = 0
        for s in 0..<sets { running += delta[s]; most = max(most, running) }
        return everywhere + most
    }

    public static func log2p(_ x: Double) -> Double { x > 0 ? log2(1 + x) : 0 }

    /// log2 in pure Swift (the core imports no libm): the exponent plus a short series for
    /// the mantissa, within 1e-6.
    public static func log2(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 0 }
        let m = x.significand  // in [1, 2)
        let t = (m - 1) / (m + 1), t2 = t * t
        let ln = 2 * t * (1 + t2 / 3 + t2 * t2 / 5 + t2 * t2 * t2 / 7 + t2 * t2 * t2 * t2 / 9 + t2 * t2 * t2 * t2 * t2 / 11)
        return Double(x.exponent) + ln / 0.6931471805599453
    }
}

/// A space that knows what its knobs mean for the hardware it was built for.
public protocol FeaturedSpace: ScheduleSpace {
    /// The template family (`cpu.gemm`, `cuda.softmax`, ...): knobs of one family mean the same.
    var featureFamily: String { get }
    func derivedFeatures(_ schedule: Schedule) -> DerivedFeatures
}
