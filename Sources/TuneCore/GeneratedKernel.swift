/// Source code a backend generated for one (task, schedule) on one device, plus what the
/// agent needs to build and launch it. Produced by pure codegen; never received over the wire.
public struct GeneratedKernel: Hashable, Codable, Sendable {
    public enum Language: String, Codable, Sendable { case c, cuda }

    public var language: Language
    public var source: String
    /// Exported symbol. C: `int tunefleet_kernel(float *const *args, void *scratch)`, args in
    /// the order of `TaskSpec.tensors`, scratch at least `tunefleet_kernel_scratch_bytes()`
    /// bytes (64-byte aligned; that symbol may be absent: no scratch), returns 0 on success.
    public var entry: String
    /// Flags beyond the agent's configured ones (e.g. `-fopenmp`).
    public var extraFlags: [String]
    /// CUDA: the launches that make up one run, in order (empty for C).
    public var launches: [KernelLaunch]

    public init(language: Language, source: String, entry: String = GeneratedKernel.harnessEntry,
                extraFlags: [String] = [], launches: [KernelLaunch] = []) {
        self.language = language; self.source = source; self.entry = entry
        self.extraFlags = extraFlags; self.launches = launches
    }

    /// The entry the agent's harness calls.
    public static let harnessEntry = "tunefleet_kernel"

    /// The symbol that says how many scratch bytes `entry` needs.
    public var scratchSizeEntry: String { entry + "_scratch_bytes" }

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
