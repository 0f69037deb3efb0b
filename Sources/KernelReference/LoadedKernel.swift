import TuneCore
#if canImport(Glibc)
import Glibc
#endif

/// A generated CPU kernel loaded from its shared object, with its scratch placed the way
/// the tensors are (`PlacedMemory`), so the code and the memory it touches sit the same way
/// in every process that times it.
public final class LoadedKernel {
    typealias Entry = @convention(c) (UnsafePointer<UnsafeMutablePointer<Float>>, UnsafeMutableRawPointer?) -> Int32
    typealias ScratchBytes = @convention(c) () -> Int

    private let entry: Entry
    private let scratch: PlacedMemory?

    public struct LoadFailure: Error, CustomStringConvertible { public var description: String }

    /// Loads `path` with RTLD_LOCAL (every kernel exports the same names). The handle is
    /// never closed: unloading the last user of libgomp while its pool threads idle in it
    /// crashes, and workers are recycled to bound their growth.
    /// `scratchIndex` places the scratch after the task's tensors (`PlacedMemory.stagger`).
    public init(path: String, kernel: GeneratedKernel, scratchIndex: Int) throws(LoadFailure) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw LoadFailure(description: "dlopen: \(String(cString: dlerror()))")
        }
        guard let sym = dlsym(handle, kernel.entry) else {
            throw LoadFailure(description: "dlsym(\(kernel.entry)) failed")
        }
        entry = unsafeBitCast(sym, to: Entry.self)
        // A kernel without the size symbol needs no scratch.
        let bytes = dlsym(handle, kernel.scratchSizeEntry).map { unsafeBitCast($0, to: ScratchBytes.self)() } ?? 0
        scratch = bytes > 0 ? PlacedMemory(bytes: bytes, offset: PlacedMemory.stagger(scratchIndex)) : nil
    }

    /// One run on `args` (`TensorBuffers.args`); the kernel's return code.
    public func run(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 { entry(args, scratch?.start) }
}
