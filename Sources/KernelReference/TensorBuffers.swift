import TuneCore
#if canImport(Glibc)
import Glibc
#endif

/// The buffers of one task's kernel arguments, in `TaskSpec.tensors` order, with the
/// `float *const *` argument array generated kernels take. Owns its memory; pointers it
/// hands out live as long as the object.
///
/// The placement is the same in every process, so a timing repeats: each tensor gets its
/// own 2 MiB-aligned mapping backed by transparent huge pages where the kernel allows it
/// (the cache sets a tensor maps to then do not depend on which 4 KiB pages the kernel
/// happened to hand out), starting at a fixed, tensor-dependent offset of whole cache
/// lines (so tensors do not all alias the same sets either). With 4 KiB pages from the
/// heap, one candidate timed in two fresh workers differed by up to 20%.
public final class TensorBuffers {
    public let task: TaskSpec
    public let tensors: [TensorDesc]
    /// The argument array: `args[i]` is tensor i.
    public let args: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    private var mappings: [PlacedMemory] = []

    public init(task: TaskSpec) {
        self.task = task
        tensors = task.tensors
        args = .allocate(capacity: max(1, tensors.count))
        for (i, t) in tensors.enumerated() {
            let count = max(1, t.elementCount)
            let memory = PlacedMemory(bytes: count * 4, offset: PlacedMemory.stagger(i))
            mappings.append(memory)
            args[i] = memory.start.initializeMemory(as: Float.self, repeating: 0, count: count)
        }
    }

    deinit { args.deallocate() }

    public func buffer(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: args[i], count: tensors[i].elementCount)
    }

    public var inputIndices: [Int] { tensors.indices.filter { tensors[$0].role == .input } }
    public var outputIndices: [Int] { tensors.indices.filter { tensors[$0].role == .output } }

    /// Fills every input with the task's deterministic data (see `InputData`).
    public func fillInputs() {
        for i in inputIndices { InputData.fill(buffer(i), task: task, tensor: i) }
    }

    /// Fills every output with `Poison.value`, so elements a kernel never writes are found.
    public func poisonOutputs() {
        for i in outputIndices { buffer(i).update(repeating: Poison.value) }
    }

    /// Copies the inputs of `other` (same task) into this object's inputs.
    public func copyInputs(from other: TensorBuffers) {
        for i in inputIndices { _ = buffer(i).update(fromContentsOf: other.buffer(i)) }
    }
}

/// Deterministic input values in [-1, 1): seeded by the task's canonical name and the
/// tensor's index, so every agent and every run sees the same data for a task.
public enum InputData {
    public static func fill(_ buffer: UnsafeMutableBufferPointer<Float>, task: TaskSpec, tensor: Int) {
        var rng = SplitMix64(seed: FNV1a.hash(task.name) ^ (UInt64(tensor + 1) &* 0x9e37_79b9_7f4a_7c15))
        for i in buffer.indices {
            // 24 random bits: exactly representable, symmetric around 0.
            buffer[i] = Float(Int64(rng.next() >> 40) - (1 << 23)) / Float(1 << 23)
        }
    }
}

/// The NaN that outputs are filled with before a kernel runs. Its payload distinguishes
/// "never written" from a NaN the kernel computed.
public enum Poison {
    public static let bits: UInt32 = 0x7FC0_BAD1
    public static var value: Float { Float(bitPattern: bits) }
    public static func isPoison(_ x: Float) -> Bool { x.bitPattern == bits }
}

/// Memory at the same place relative to a 2 MiB boundary in every process: an anonymous
/// mapping aligned to 2 MiB, advised to use huge pages, with the payload `offset` bytes
/// in. Unmapped on deinit. Falls back to the heap (64-byte aligned) if mmap fails.
public final class PlacedMemory: @unchecked Sendable {
    public static let hugePage = 2 << 20
    /// The offset of tensor (or buffer) `index`: 17 cache lines apart, wrapping within 4 KiB
    /// times a few, so no two of a kernel's tensors start on the same cache set.
    public static func stagger(_ index: Int) -> Int { (index * 17 * 64) % (hugePage / 2) }

    public let start: UnsafeMutableRawPointer
    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int

    public init(bytes: Int, offset: Int = 0) {
        let page = Self.hugePage
        let want = (offset + max(bytes, 1) + page - 1) / page * page
#if canImport(Glibc)
        let reserved = want + page
        if let raw = mmap(nil, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED {
            let address = UInt(bitPattern: raw)
            let aligned = (address + UInt(page) - 1) / UInt(page) * UInt(page)
            let head = Int(aligned - address)
            if head > 0 { munmap(raw, head) }
            let tail = reserved - head - want
            let alignedPointer = UnsafeMutableRawPointer(bitPattern: aligned)!
            if tail > 0 { munmap(alignedPointer + want, tail) }
            _ = madvise(alignedPointer, want, MADV_HUGEPAGE)
            base = alignedPointer; mappedBytes = want; start = alignedPointer + offset
            return
        }
#endif
        base = .allocate(byteCount: offset + max(bytes, 1), alignment: 64)
        mappedBytes = 0
        start = base + offset
    }

    deinit {
#if canImport(Glibc)
        if mappedBytes > 0 { munmap(base, mappedBytes); return }
#endif
        base.deallocate()
    }
}
