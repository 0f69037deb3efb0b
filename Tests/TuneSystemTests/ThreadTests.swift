import Dispatch
import Synchronization
import Testing
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

@Suite struct Threads {
    /// Runs `name`'s body on a new thread and returns what the body saw.
    func observe(_ name: String) throws -> (name: String?, onCaller: Bool) {
        let seen = Mutex<(String?, Bool)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let caller = pthread_self()
        try startThread(name: name) {
            seen.withLock { $0 = (currentThreadName(), pthread_equal(pthread_self(), caller) != 0) }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 30) == .success, "the body ran")
        let s = try #require(seen.withLock { $0 })
        return (s.0, s.1)
    }

    @Test func theBodyRunsOnItsOwnNamedThread() throws {
        let r = try observe("batch-pipeline")
        #expect(r.name == "batch-pipeline")
        #expect(!r.onCaller)
    }

    @Test func longNamesAreCutToTheKernelsFifteenBytes() throws {
        #expect(try observe("a-very-long-thread-name").name == "a-very-long-thr")
        #expect(threadName("ééééééééé") == "ééééééé", "cut between characters, never inside one")
        #expect(threadName("zap") == "zap")
    }
}
