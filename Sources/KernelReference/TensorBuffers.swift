import TuneCore

/// The buffers of one task's kernel arguments, 64-byte aligned, in `TaskSpec.tensors`
/// order, with the `float *const *` argument array generated kernels take. Owns its
/// memory; pointers it hands out live as long as the object.
public final class TensorBuffers {
    public let task: TaskSpec
    public let tensors: [TensorDesc]
    /// The argument array: `args[i]` is tensor i.
    public let args: UnsafeMutablePointer<UnsafeMutablePointer<Float>>

    public init(task: TaskSpec) {
        self.task = task
        tensors = task.tensors
        args = .allocate(capacity: max(1, tensors.count))
        for (i, t) in tensors.enumerated() {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, t.elementCount) * 4, alignment: 64)
            args[i] = raw.initializeMemory(as: Float.self, repeating: 0, count: max(1, t.elementCount))
        }
    }

    deinit {
        for i in tensors.indices { UnsafeMutableRawPointer(args[i]).deallocate() }
        args.deallocate()
    }

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
