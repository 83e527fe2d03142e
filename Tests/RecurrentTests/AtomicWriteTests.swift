import Foundation
import Testing
@testable import Recurrent

/// `writeAtomically`: the old file or the new one, whole, and nothing left behind, whether a write
/// succeeds, fails, or is killed (`kill -9`) at any point.
@Suite struct AtomicWriteTests {
    /// Both ways of writing: an unnamed file linked into place (Linux), and the named temporary
    /// file renamed over the destination (elsewhere, and on Linux where the file system has no
    /// unnamed files).
    @Test(arguments: [true, false]) func replacesTheFileAndKeepsItsPermissions(_ unnamedFile: Bool) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("f.bin")
        try writeAtomically(Data([1, 2, 3]), to: url, unnamedFile: unnamedFile)
        #expect(dir.contents == ["f.bin"])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
        try writeAtomically(Data([4]), to: url, unnamedFile: unnamedFile)
        #expect(try Data(contentsOf: url) == Data([4]))
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int == 0o600)
        try writeAtomically(Data(), to: url, unnamedFile: unnamedFile)
        #expect(try Data(contentsOf: url).isEmpty)
        #expect(dir.contents == ["f.bin"], "no temporary file is left behind")
    }

    @Test(arguments: [true, false]) func failuresThrowAndLeaveNoTemporaryFile(_ unnamedFile: Bool) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect { try writeAtomically(Data([1]), to: dir.file("no/such/folder/f.bin"), unnamedFile: unnamedFile) } throws: { error in
            "\(error)".contains("f.bin: cannot create a temporary file in \(dir.path("no/such/folder")): No such file or directory")
        }
        // The destination is a folder: moving the written file into place fails after it was written.
        try FileManager.default.createDirectory(at: dir.file("folder"), withIntermediateDirectories: false)
        #expect { try writeAtomically(Data([1]), to: dir.file("folder"), unnamedFile: unnamedFile) } throws: { error in
            "\(error)".contains("folder: cannot move the written file into place") && !"\(error)".contains("\n")
        }
        #expect(dir.contents == ["folder"], "no temporary file is left behind")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path("folder")).isEmpty)
    }

    /// A write removes the destination's temporary files over a minute old (left by a killed
    /// process) and nothing else: not a younger one (a write under way), not another file's, not
    /// a name that only looks like one.
    @Test(arguments: [true, false]) func removesStaleTemporaryFiles(_ unnamedFile: Bool) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let uuid = "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"
        let stale = [".f.bin.\(uuid).tmp", ".f.bin.\(uuid.lowercased()).tmp"]
        let kept = [".f.bin.young.tmp", ".f.bin.\(UUID().uuidString).tmp", ".g.bin.\(uuid).tmp", ".f.bin.x.\(uuid).tmp", ".f.bin.\(uuid).tmp.keep",
                    "f.bin.\(uuid).tmp"]
        let old = Date(timeIntervalSinceNow: -120)
        for name in stale + kept {
            try Data([7]).write(to: dir.file(name))
            if name != kept[1] { try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: dir.path(name)) }
        }
        // An old folder of such a name is not a temporary file: it stays too.
        let folder = ".f.bin.\(UUID().uuidString).tmp"
        try FileManager.default.createDirectory(at: dir.file(folder), withIntermediateDirectories: false)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: dir.path(folder))

        try writeAtomically(Data([1]), to: dir.file("f.bin"), unnamedFile: unnamedFile)
        #expect(dir.contents == (kept + [folder, "f.bin"]).sorted())
        #expect(try Data(contentsOf: dir.file(kept[0])) == Data([7]))
    }

    /// `recurrent run` writes a 16 MB output over the same destination again and again and is
    /// killed (SIGKILL) at seeded random moments, most of them while its output file is open (seen
    /// in /proc): each time the destination is the previous complete file or the new one, and the
    /// folder holds nothing else. (An unnamed file has no name to leave behind: the system frees
    /// it with the killed process.)
    @Test func killedWritesLeaveTheOldFileOrTheNewOne() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.file("out"), calibration = dir.file("calibration")
        for folder in [out, calibration] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false) }
        manualSeed(25)
        try RecurrentModel(ModelArchitecture(kind: .rnn, inputSize: 1, hiddenSize: 8)).save(to: dir.file("model.safetensors"))
        // [T, B, I] = [16, 32768, 1]: 2 MB in and 16 MB of `output` out, for little arithmetic.
        let inputs = ["a", "b"]
        for (seed, name) in inputs.enumerated() {
            try NPY.write(TensorData(shape: [16, 32768, 1], scalars: testValues(1 << 19, seed: UInt64(seed))), to: dir.file("\(name).npy"))
        }
        func start(_ input: String, writingIn folder: URL) throws -> Process {
            let process = Process()
            process.executableURL = CommandRunner.executable
            process.arguments = ["run", dir.path("model.safetensors"), "--input", dir.path("\(input).npy"),
                                 "--output", folder.appendingPathComponent("out.safetensors").path]
            (process.standardOutput, process.standardError) = (FileHandle.nullDevice, FileHandle.nullDevice)
            try process.run()
            return process
        }

        // One complete run per input: the file each writes, how long a run takes, how long its write.
        var versions: [Data] = [], runTime = 0.0, writeTime = 0.0
        for input in inputs {
            let begin = Date()
            let process = try start(input, writingIn: calibration)
            let opened = waitForOpenFile(process, in: calibration)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            runTime = max(runTime, -begin.timeIntervalSinceNow)
            if let opened { writeTime = max(writeTime, -opened.timeIntervalSinceNow) }
            let file = calibration.appendingPathComponent("out.safetensors")
            #expect(try SafeTensorsFile.read(from: file).tensors["output"]?.shape == [16, 32768, 8])
            versions.append(try Data(contentsOf: file))
        }
        #expect(versions[0] != versions[1])
        #expect(!canSeeOpenFiles || writeTime > 0, "the write was seen in /proc")

        var generator = SeededGenerator(seed: 25)
        var outcomes: [String: Int] = [:], current: Data?
        let destination = out.appendingPathComponent("out.safetensors")
        for round in 0..<20 {
            let process = try start(inputs[round % 2], writingIn: out)
            // A third of the kills at any moment of the run, the others while the output file is open.
            if round % 3 == 0 || !canSeeOpenFiles {
                usleep(UInt32(Double.random(in: 0...runTime, using: &generator) * 1e6))
            } else {
                _ = waitForOpenFile(process, in: out)
                usleep(UInt32(Double.random(in: 0...writeTime * 1.2, using: &generator) * 1e6))
            }
            let writing = !openFiles(of: process.processIdentifier, in: out).isEmpty
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()

            let names = try FileManager.default.contentsOfDirectory(atPath: out.path)
            #expect(names.isEmpty || names == ["out.safetensors"], "round \(round): nothing but the destination")
            let now = try? Data(contentsOf: destination)
            #expect(now == current || now == versions[round % 2], "round \(round): the old file or the new one, whole")
            if let now, now != current { #expect(throws: Never.self) { try SafeTensorsFile.read(from: destination) } }
            let outcome = process.terminationReason == .exit ? "completed"
                : writing ? "killed while its output file was open"
                : now != current ? "killed after its write" : "killed before its write"
            outcomes[outcome, default: 0] += 1
            current = now
        }
        print("AtomicWriteTests: \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        #expect(!canSeeOpenFiles || outcomes["killed while its output file was open", default: 0] >= 3)
    }
}

/// Whether this system shows a process's open files in /proc (Linux).
private let canSeeOpenFiles = FileManager.default.fileExists(atPath: "/proc/self/fd")

/// The files process `pid` has open in `folder`, from /proc: unnamed ones too (`folder/#inode (deleted)`).
private func openFiles(of pid: Int32, in folder: URL) -> [String] {
    let descriptors = "/proc/\(pid)/fd", prefix = folder.resolvingSymlinksInPath().path + "/"
    return ((try? FileManager.default.contentsOfDirectory(atPath: descriptors)) ?? [])
        .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(descriptors)/\($0)") }
        .filter { $0.hasPrefix(prefix) }
}

/// Waits (up to a minute) until `process` has a file open in `folder`, returning when it saw it;
/// nil if the process ended first or /proc does not show open files.
private func waitForOpenFile(_ process: Process, in folder: URL) -> Date? {
    let deadline = Date(timeIntervalSinceNow: 60)
    while canSeeOpenFiles, process.isRunning, Date() < deadline {
        if !openFiles(of: process.processIdentifier, in: folder).isEmpty { return Date() }
        usleep(100)
    }
    return nil
}
