/// Source code a backend generated for one (task, schedule) on one device, plus what the
/// agent needs to build and launch it. Produced by pure codegen; never received over the wire.
public struct GeneratedKernel: Hashable, Codable, Sendable {
    public enum Language: String, Codable, Sendable { case c, cuda }

    public var language: Language
    public var source: String
    /// Exported symbol. C: `int tunefleet_kernel(float *const *args)`, args in the order of
    /// `TaskSpec.tensors`, returns 0 on success.
    public var entry: String
    /// Flags beyond the agent's configured ones (e.g. `-fopenmp`).
    public var extraFlags: [String]
    /// CUDA: the launches that make up one run, in order (empty for C).
    public var launches: [KernelLaunch]

    public init(language: Language, source: String, entry: String = "tunefleet_kernel",
                extraFlags: [String] = [], launches: [KernelLaunch] = []) {
        self.language = language; self.source = source; self.entry = entry
        self.extraFlags = extraFlags; self.launches = launches
    }

    /// Identity of the source and flags: the key of the agent's build cache.
    public var sourceHash: String { FNV1a.hex(language.rawValue + "\u{0}" + extraFlags.joined(separator: " ") + "\u{0}" + source) }
}

/// One CUDA kernel launch: entry point, grid and block shape, dynamic shared memory.
public struct KernelLaunch: Hashable, Codable, Sendable {
    public var entry: String
    public var grid: [Int]
    public var block: [Int]
    public var sharedMemBytes: Int
    public init(entry: String, grid: [Int], block: [Int], sharedMemBytes: Int = 0) {
        self.entry = entry; self.grid = grid; self.block = block; self.sharedMemBytes = sharedMemBytes
    }
}

/// What code generation may do beyond the normal space.
public struct CodegenOptions: Hashable, Codable, Sendable {
    /// Accept the test-only `fault` knob (1: crash with SIGSEGV, 2: hang, 3: wrong answer).
    /// Off unless the agent was started with fault injection for tests; a schedule that
    /// names `fault` is otherwise `invalid_schedule`.
    public var allowFaultInjection: Bool = false
    /// CPU only: export the kernel as NAME(args, scratch) with NAME_scratch_bytes(), for a
    /// library (coordctl emit), instead of the harness's entry with its own static scratch.
    public var libraryEntry: String? = nil
    public init(allowFaultInjection: Bool = false, libraryEntry: String? = nil) {
        self.allowFaultInjection = allowFaultInjection
        self.libraryEntry = libraryEntry
    }
}
