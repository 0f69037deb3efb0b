import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Dispatch sources must stay alive to keep firing; they are only ever appended to.
private final class SourceList: @unchecked Sendable {
    let lock = Mutex(())
    var sources: [DispatchSourceSignal] = []
}
private let installedSources = SourceList()

/// Calls `handler` (on a background queue) when SIGINT or SIGTERM arrives, instead of dying:
/// long-running loops get the chance to drain and clean up.
public func onTerminationSignals(_ handler: @escaping @Sendable (Int32) -> Void) {
    for sig in [SIGINT, SIGTERM] { onSignal(sig) { handler(sig) } }
}

/// Calls `handler` (on a background queue) each time `sig` arrives (e.g. SIGHUP: reload).
public func onSignal(_ sig: Int32, _ handler: @escaping @Sendable () -> Void) {
    signal(sig, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    source.setEventHandler { handler() }
    source.resume()
    installedSources.lock.withLock { _ in installedSources.sources.append(source) }
}

/// A flag another thread (a signal handler's watcher, a test) sets to end a loop.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func stop() { flag.store(true, ordering: .relaxed) }
    public var isSet: Bool { flag.load(ordering: .relaxed) }
}

