import Dispatch
import Logging
import Synchronization
import TuneCore
import TuneSystem
import TuneWire

/// Measures batches one after another on its own thread: builds a batch's candidates in
/// parallel on the host cores, then times them one at a time in the worker process, and
/// streams each result to the mailbox as soon as it exists.
final class BatchPipeline: @unchecked Sendable {
    typealias Job = AgentBatch

    private let builder: any KernelBuilder
    private let worker: WorkerHost   // used only on the pipeline thread
    private let outbox: ResultMailbox
    private let logger: Logger
    private let workDir: String
    private let hostLock: HostMeasureLock?
    private let queue = Mutex<[Job]>([])
    /// Batches called back by the coordinator, and the one being processed.
    private let cancelled = Mutex<Set<UInt64>>([])
    private let current = Atomic<UInt64>(0)
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let busy = Atomic<Int>(0)

    init(builder: any KernelBuilder, worker: WorkerHost, outbox: ResultMailbox, workDir: String, hostLock: HostMeasureLock?,
         logger: Logger) {
        self.builder = builder; self.worker = worker; self.outbox = outbox; self.workDir = workDir
        self.hostLock = hostLock; self.logger = logger
    }

    private func measure(_ request: WorkerRequest, batch: UInt64) -> MeasureResult {
        let run = { self.worker.measure(request, abandoned: { self.isCancelled(batch) }) }
        guard let hostLock else { return run() }
        return hostLock.measuring(run)
    }

    /// Batches queued or in progress.
    var load: Int { busy.load(ordering: .relaxed) }

    func submit(_ job: Job) {
        busy.add(1, ordering: .relaxed)
        queue.withLock { $0.append(job) }
        wake.signal()
    }

    /// Starts the pipeline thread; throws when no thread can be made (nothing would ever
    /// be measured, so the agent must not say hello).
    func start() throws(SystemError) {
        try startThread(name: "batch-pipeline") { [self] in
            while !stopped.load(ordering: .relaxed) {
                wake.wait()
                while let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                    process(job)
                    busy.subtract(1, ordering: .relaxed)
                }
            }
        }
    }

    /// Stops work on these batches: queued ones are dropped, the one in progress builds and
    /// times nothing more (a candidate being timed is cut short by killing the worker) and
    /// none of them sends another result. Returns whether the batch in progress was one.
    @discardableResult
    func cancel(_ ids: [UInt64]) -> Bool {
        let set = Set(ids)
        // Marked first: a batch taken off the queue but not yet begun still sees the mark.
        cancelled.withLock { $0.formUnion(set) }
        let dropped = queue.withLock { q in
            let gone = q.filter { set.contains($0.batchID) }.map(\.batchID)
            q.removeAll { set.contains($0.batchID) }
            return gone
        }
        if !dropped.isEmpty {
            busy.subtract(dropped.count, ordering: .relaxed)
            // Never to be processed, so never to be unmarked there.
            cancelled.withLock { $0.subtract(dropped) }
        }
        guard set.contains(current.load(ordering: .relaxed)) else { return false }
        worker.abortCurrent()
        return true
    }

    /// Stops everything queued or in progress (see `cancel`), for an agent that is leaving.
    func cancelAll() {
        var ids = queue.withLock { $0.map(\.batchID) }
        let now = current.load(ordering: .relaxed)
        if now != 0 { ids.append(now) }
        cancel(ids)
    }

    private func isCancelled(_ id: UInt64) -> Bool { cancelled.withLock { $0.contains(id) } }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        wake.signal()
    }

    private func emit(_ r: MeasureResult, batch: UInt64, last: Bool) {
        guard !isCancelled(batch) else { return }
        var w = r.wire(batchID: batch)
        w.batchDone = last
        outbox.add(w)
    }

    private func process(_ job: Job) {
        var log = logger
        log[metadataKey: "task"] = "\(job.task.name)"
        log.debug("batch \(job.batchID): \(job.candidates.count) candidates")
        current.store(job.batchID, ordering: .relaxed)
        defer {
            current.store(0, ordering: .relaxed)
            cancelled.withLock { _ = $0.remove(job.batchID) }
        }
        guard !isCancelled(job.batchID) else { return }
        if job.plan.includeVendorBaseline {
            let r = measure(WorkerRequest(candidateID: vendorBaselineCandidateID, task: job.task, plan: job.plan, artifact: nil),
                            batch: job.batchID)
            emit(r, batch: job.batchID, last: job.candidates.isEmpty)
        }
        let dir = "\(workDir)/batch-\(job.batchID)"
        try? makeDirectories(dir)
        defer { removeTree(dir) }
        let outcomes = Mutex<[Int: BuildOutcome]>([:])
        let builder = self.builder
        let hostLock = self.hostLock
        DispatchQueue.concurrentPerform(iterations: job.candidates.count) { i in
            guard !self.isCancelled(job.batchID) else { return }
            let build = { builder.build(task: job.task, candidate: job.candidates[i], plan: job.plan, workDir: dir) }
            let o = hostLock.map { $0.compiling(build) } ?? build()
            outcomes.withLock { $0[i] = o }
        }
        for (i, c) in job.candidates.enumerated() {
            if isCancelled(job.batchID) { return }
            let last = i == job.candidates.count - 1
            switch outcomes.withLock({ $0[i] }) {
            case .failed(var r)?:
                r.candidateID = c.id
                emit(r, batch: job.batchID, last: last)
            case .built(let artifact)?:
                var r = measure(WorkerRequest(candidateID: c.id, task: job.task, plan: job.plan, artifact: artifact), batch: job.batchID)
                r.compileSeconds = artifact.compileSeconds
                r.detail.merge(artifact.detail) { a, _ in a }
                emit(r, batch: job.batchID, last: last)
            case nil:
                emit(MeasureResult(candidateID: c.id, status: .runtimeError, errorText: "build produced no outcome"), batch: job.batchID, last: last)
            }
        }
    }
}
