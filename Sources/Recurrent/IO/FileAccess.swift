import Foundation

/// Writes `data` to `url` atomically: into a temporary file in the same folder, then renamed over
/// the destination, so an interrupted write never leaves a partial file or destroys the previous
/// one. The temporary file is removed on failure.
/// - Throws: ``FileFormatError`` naming the file.
public func writeAtomically(_ data: Data, to url: URL) throws {
    let folder = url.deletingLastPathComponent()
    let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    do {
        try data.write(to: temporary)
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw FileFormatError(file: url.path, "cannot write: \(error.localizedDescription)")
    }
    if rename(temporary.path, url.path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: temporary)
        throw FileFormatError(file: url.path, "cannot move the written file into place: \(reason)")
    }
}

/// Memory-maps the file at `url` and decodes it, adding the file's path to any
/// ``FileFormatError`` (and turning an unreadable file into one).
func decodeFile<T>(at url: URL, with decode: (Data) throws -> T) throws -> T {
    let data: Data
    do {
        data = try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        throw FileFormatError(file: url.path, "cannot read: \(error.localizedDescription)")
    }
    do {
        return try decode(data)
    } catch var error as FileFormatError {
        error.file = url.path
        throw error
    }
}
