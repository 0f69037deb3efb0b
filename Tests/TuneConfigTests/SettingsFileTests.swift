import ArgumentParser
import Foundation
import Testing
import TuneConfig

/// A command shaped like the daemons: options with defaults, a flag, a repeating option, a custom name.
private struct Sample: ParsableCommand {
    @Option(help: "Endpoint.") var listen = "tcp://127.0.0.1:7700"
    @Option(help: "Batch.") var batchSize = 4
    @Option(help: "Interval.") var heartbeat = 1.0
    @Flag(help: "Open.") var insecure = false
    @Option(help: "Tags.") var tag: [String] = []
    @Option(name: .customLong("cc"), help: "Compiler.") var compiler = "cc"
    @Option(help: "Settings file.") var config: String?
}

private let settings = [
    Setting(name: "listen", kind: .option), Setting(name: "batch-size", kind: .option),
    Setting(name: "heartbeat", kind: .option), Setting(name: "insecure", kind: .flag),
    Setting(name: "tag", kind: .repeating),
]

@Suite struct SettingsFiles {
    @Test func keysBecomeTheFlagsTheyName() throws {
        let toml = """
        # coordd
        listen = "tcp://0.0.0.0:7700"
        batch-size = 8
        heartbeat = 0.5
        insecure = true
        tag = ["a", "b"]
        """
        let args = try SettingsFile.arguments(toml: toml, file: "c.toml", settings: settings)
        #expect(args == ["--batch-size=8", "--heartbeat=0.5", "--insecure", "--listen=tcp://0.0.0.0:7700", "--tag=a", "--tag=b"])
        #expect(try SettingsFile.arguments(toml: "insecure = false", file: "c.toml", settings: settings) == [])
    }

    @Test func badFilesAreClearErrors() {
        #expect(throws: SettingsFileError.unknownKey(file: "c.toml", key: "batchsize", suggestion: "batch-size")) {
            try SettingsFile.arguments(toml: "batchsize = 8", file: "c.toml", settings: settings)
        }
        #expect(throws: SettingsFileError.unknownKey(file: "c.toml", key: "zzz", suggestion: nil)) {
            try SettingsFile.arguments(toml: "zzz = 1", file: "c.toml", settings: settings)
        }
        #expect(throws: SettingsFileError.wrongType(file: "c.toml", key: "insecure", expected: "true or false", got: "a string")) {
            try SettingsFile.arguments(toml: "insecure = \"yes\"", file: "c.toml", settings: settings)
        }
        #expect(throws: SettingsFileError.wrongType(file: "c.toml", key: "listen", expected: "a string or a number", got: "an array")) {
            try SettingsFile.arguments(toml: "listen = [\"a\"]", file: "c.toml", settings: settings)
        }
        #expect(throws: SettingsFileError.unknownKey(file: "c.toml", key: "coordd", suggestion: nil)) {
            try SettingsFile.arguments(toml: "[coordd]\nlisten = \"x\"", file: "c.toml", settings: settings)
        }
        do {
            _ = try SettingsFile.arguments(toml: "listen = \"a\"\nbatch-size = = 3\n", file: "c.toml", settings: settings)
            Issue.record("a syntax error was accepted")
        } catch {
            guard case .syntax(let file, let line, _, _) = error else { Issue.record("\(error)"); return }
            #expect(file == "c.toml" && line == 2, "the error points at the line: \(error)")
        }
    }

    @Test func theCommandLineWins() {
        let file = ["--batch-size=8", "--insecure", "--listen=tcp://f", "--tag=a", "--tag=b"]
        let merged = SettingsFile.merge(file: file, commandLine: ["--listen=tcp://c", "--tag", "z"], settings: settings)
        #expect(merged == ["--batch-size=8", "--insecure", "--listen=tcp://c", "--tag", "z"])
        #expect(SettingsFile.merge(file: file, commandLine: [], settings: settings) == file)
    }

    /// The settings come from ArgumentParser's own description: a new flag is a new key.
    @Test func aCommandsSettingsAreItsFlags() {
        let found = CommandSettings.settings(of: Sample.self)
        #expect(found.map(\.name).sorted() == ["batch-size", "cc", "heartbeat", "insecure", "listen", "tag"])
        #expect(found.first { $0.name == "insecure" }?.kind == .flag)
        #expect(found.first { $0.name == "tag" }?.kind == .repeating)
        #expect(found.first { $0.name == "batch-size" }?.kind == .option)
    }

    /// End to end through the parser: file values take effect, the command line overrides them,
    /// and ArgumentParser's own checks apply to values from the file.
    @Test func aFileConfiguresTheCommand() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunefleet-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sample.toml").path
        try "batch-size = 16\ncc = \"clang\"\ninsecure = true\nlisten = \"tcp://file\"\nheartbeat = -0.5\n".write(toFile: path, atomically: true, encoding: .utf8)

        let parsed = try Sample.parse(CommandSettings.expand(["--config", path, "--listen", "tcp://cli"], command: Sample.self))
        #expect(parsed.batchSize == 16 && parsed.compiler == "clang" && parsed.insecure && parsed.listen == "tcp://cli")
        #expect(parsed.heartbeat == -0.5, "a value with a leading dash stays a value")
        #expect(try Sample.parse(CommandSettings.expand(["--config", path, "--heartbeat", "2"], command: Sample.self)).heartbeat == 2)
        #expect(try Sample.parse(CommandSettings.expand(["--config", path], command: Sample.self)).tag == [],
                "defaults stay for what the file leaves out")

        try "batch-size = \"many\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self, "the flag's own type check applies to the file's value") {
            try Sample.parse(CommandSettings.expand(["--config=\(path)"], command: Sample.self))
        }
        #expect(throws: SettingsFileUnreadable.self) {
            try CommandSettings.expand(["--config", dir.appendingPathComponent("missing.toml").path], command: Sample.self)
        }
        #expect(try CommandSettings.expand(["--listen", "x"], command: Sample.self) == ["--listen", "x"])
    }
}
