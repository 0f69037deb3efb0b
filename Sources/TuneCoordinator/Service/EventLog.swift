import Foundation
import Synchronization
import TuneCore

/// Appends `CoordinatorEvent`s to a file as JSON lines (flushed per event), for operators'
/// tools and tests to read as facts.
public final class EventLog: Sendable {
    private let handle: Mutex<FileHandle>

    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CoordinatorError("cannot create the event file \(path)")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw CoordinatorError("cannot open the event file \(path)") }
        h.seekToEndOfFile()
        handle = Mutex(h)
    }

    public func emit(_ event: CoordinatorEvent) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(event) else { return }
        handle.withLock { $0.write(data + Data("\n".utf8)) }
    }
}
