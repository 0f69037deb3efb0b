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
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let busy = Atomic<Int>(0)

    init(builder: any KernelBuilder, worker: WorkerHost, outbox: ResultMailbox, workDir: String, hostLock: HostMeasureLock?,
         logger: Logger) {
        self.builder = builder; self.worker = worker; self.outbox = outbox; self.workDir = workDir
        self.hostLock = hostLock; self.logger = logger
    }

    private func measure(_ request: WorkerRequest) -> MeasureResult {
        guard let hostLock else { return worker.measure(request) }
        return hostLock.measuring { worker.measure(request) }
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

    func stop() {
        stopped.store(true, ordering: .relaxed)
        wake.signal()
    }

    private func emit(_ r: MeasureResult, batch: UInt64, last: Bool) {
        var w = r.wire(batchID: batch)
        w.batchDone = last
        outbox.add(w)
    }

    private func process(_ job: Job) {
        var log = logger
        log[metadataKey: "task"] = "\(job.task.name)"
        log.debug("batch \(job.batchID): \(job.candidates.count) candidates")
        if job.plan.includeVendorBaseline {
            let r = measure(WorkerRequest(candidateID: vendorBaselineCandidateID, task: job.task, plan: job.plan, artifact: nil))
            emit(r, batch: job.batchID, last: job.candidates.isEmpty)
        }
        let dir = "\(workDir)/batch-\(job.batchID)"
        try? makeDirectories(dir)
        defer { removeTree(dir) }
        let outcomes = Mutex<[Int: BuildOutcome]>([:])
        let builder = self.builder
        let hostLock = self.hostLock
        DispatchQueue.concurrentPerform(iterations: job.candidates.count) { i in
            let build = { builder.build(task: job.task, candidate: job.candidates[i], plan: job.plan, workDir: dir) }
            let o = hostLock.map { $0.compiling(build) } ?? build()
            outcomes.withLock { $0[i] = o }
        }
        for (i, c) in job.candidates.enumerated() {
            let last = i == job.candidates.count - 1
            switch outcomes.withLock({ $0[i] }) {
            case .failed(var r)?:
                r.candidateID = c.id
                emit(r, batch: job.batchID, last: last)
            case .built(let artifact)?:
                var r = measure(WorkerRequest(candidateID: c.id, task: job.task, plan: job.plan, artifact: artifact))
                r.compileSeconds = artifact.compileSeconds
                r.detail.merge(artifact.detail) { a, _ in a }
                emit(r, batch: job.batchID, last: last)
            case nil:
                emit(MeasureResult(candidateID: c.id, status: .runtimeError, errorText: "build produced no outcome"), batch: job.batchID, last: last)
            }
        }
    }
}
