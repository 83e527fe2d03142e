import Foundation

/// Writes `data` to `url` atomically: a temporary file in the same folder, then rename over the
/// destination; the temp file is removed on failure.
///
/// The temporary file (`.<name>.<UUID>.tmp`) is flushed to disk before the rename, and an existing
/// destination's permission bits are kept, so readers see either the old file whole or the new one
/// whole, never a partial write, and a failed write leaves the old file as it was.
/// - Throws: ``FileFormatError`` naming `url` and the reason (for example a missing folder).
public func writeAtomically(_ data: Data, to url: URL) throws {
    let folder = url.deletingLastPathComponent()
    let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    func failure(_ what: String, _ code: Int32 = errno) -> FileFormatError {
        FileFormatError(file: url.path, "\(what): \(String(cString: strerror(code)))")
    }
    let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
    guard fd >= 0 else { throw failure("cannot create a temporary file in \(folder.path)") }
    var problem: FileFormatError?
    data.withUnsafeBytes { bytes in
        var written = 0
        while written < bytes.count {
            let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { problem = failure("cannot write", n < 0 ? errno : ENOSPC); return }
            written += n
        }
    }
    var existing = stat()
    if problem == nil, stat(url.path, &existing) == 0 { _ = fchmod(fd, existing.st_mode & 0o7777) }
    if problem == nil, fsync(fd) != 0 { problem = failure("cannot flush to disk") }
    if close(fd) != 0, problem == nil { problem = failure("cannot close the temporary file") }
    if problem == nil, rename(temporary.path, url.path) != 0 { problem = failure("cannot move the written file into place") }
    if let problem {
        unlink(temporary.path)
        throw problem
    }
    // Make the rename itself durable (best effort).
    let folderFD = open(folder.path, O_RDONLY | O_CLOEXEC)
    if folderFD >= 0 { _ = fsync(folderFD); _ = close(folderFD) }
}

/// Reads the file at `url` (memory-mapped) and decodes it, putting the file's path into any
/// ``FileFormatError`` and turning an unreadable file into one.
func decodeFile<T>(at url: URL, with decode: (Data) throws -> T) throws -> T {
    let data: Data
    do {
        data = try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
        let reason = underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : nil }
            ?? error.localizedDescription
        throw FileFormatError(file: url.path, "cannot read: \(reason)")
    }
    do {
        return try decode(data)
    } catch var error as FileFormatError {
        error.file = url.path
        throw error
    }
}
