import Foundation

/// Writes `data` to `url` atomically: readers see either the old file whole or the new one whole,
/// never a partial write, and nothing is left behind when the process dies.
///
/// On Linux the data goes into an unnamed file in the destination's folder (`O_TMPFILE`), which
/// the system frees if the process dies before it has a name; once flushed to disk it is linked
/// in as the destination, or, over an existing destination, linked as `.<name>.<UUID>.tmp` and
/// renamed over it in the next instant (Linux cannot link over an existing file). Elsewhere, or on
/// a file system without unnamed files, the data goes into that named temporary file, flushed and
/// renamed over the destination. Either way each write first removes the temporary files of the
/// same destination that are more than a minute old, which a process killed in the middle of a
/// write (the fallback) or between the link and the rename (Linux) left behind.
///
/// An existing destination's permission bits are kept, the file and the rename are flushed to
/// disk, and a failed write leaves the old file as it was and no temporary file.
/// - Throws: ``FileFormatError`` naming `url` and the reason (for example a missing folder).
public func writeAtomically(_ data: Data, to url: URL) throws {
    try writeAtomically(data, to: url, unnamedFile: true)
}

/// ``writeAtomically(_:to:)``, with `unnamedFile: false` taking the named-temporary-file path
/// where the system has unnamed files (for tests).
func writeAtomically(_ data: Data, to url: URL, unnamedFile: Bool) throws {
    let folder = url.deletingLastPathComponent()
    func failure(_ what: String, _ code: Int32 = errno) -> FileFormatError {
        FileFormatError(file: url.path, "\(what): \(String(cString: strerror(code)))")
    }
    removeStaleTemporaries(of: url)
    // The paths made up front (a native string reaches C without a copy), so that between the
    // link and the rename (where a killed process leaves the named temporary) there are only the
    // two system calls.
    let destination = url.path, temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
    var existing = stat()
    let replacing = stat(destination, &existing) == 0
    var fd = unnamedFile ? openUnnamedFile(in: folder.path) : nil
    let named = fd == nil
    if named { fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666) }
    guard let fd, fd >= 0 else { throw failure("cannot create a temporary file in \(folder.path)") }

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
    if problem == nil, replacing { _ = fchmod(fd, existing.st_mode & 0o7777) }
    if problem == nil, fsync(fd) != 0 { problem = failure("cannot flush to disk") }
    if named {
        if close(fd) != 0, problem == nil { problem = failure("cannot close the temporary file") }
        if problem == nil, rename(temporary, destination) != 0 { problem = failure("cannot move the written file into place") }
        if problem != nil { unlink(temporary) }
    } else {
        // The file is on disk (fsync): only a name is missing, and an unnamed file needs no cleanup.
        if problem == nil { problem = linkIntoPlace(fd, destination, temporary, replacing: replacing).map { failure($0.what, $0.code) } }
        _ = close(fd)
    }
    if let problem { throw problem }
    // Make the link or rename itself durable (best effort).
    let folderFD = open(folder.path, O_RDONLY | O_CLOEXEC)
    if folderFD >= 0 { _ = fsync(folderFD); _ = close(folderFD) }
}

#if os(Linux) && (arch(x86_64) || arch(arm64))
/// `O_TMPFILE`, which Glibc does not export to Swift: `__O_TMPFILE | O_DIRECTORY`, where
/// `__O_TMPFILE` is 0o20000000 on both x86-64 and AArch64 (`asm-generic/fcntl.h`) and
/// `O_DIRECTORY` differs between them (0o200000 and 0o40000).
private let unnamedFileFlag = 0o20000000 | O_DIRECTORY
#endif

/// An unnamed file open for writing in `folder`: its descriptor, or -1 with `errno` set; nil where
/// the system or the folder's file system has no unnamed files (then a named one is used).
private func openUnnamedFile(in folder: String) -> Int32? {
    #if os(Linux) && (arch(x86_64) || arch(arm64))
    // The file gets its name through /proc/self/fd (linkat's AT_EMPTY_PATH needs a privilege).
    guard access("/proc/self/fd", X_OK) == 0 else { return nil }
    let fd = open(folder, unnamedFileFlag | O_WRONLY | O_CLOEXEC, 0o666)
    // EISDIR: a kernel older than O_TMPFILE (3.11); EOPNOTSUPP, EINVAL: a file system without it.
    let code = errno
    if fd < 0 && (code == EOPNOTSUPP || code == EISDIR || code == EINVAL) { return nil }
    errno = code
    return fd
    #else
    return nil
    #endif
}

/// Gives the unnamed file `fd` its name: `destination` directly when there is no such file yet,
/// otherwise `temporary` renamed over it, as a link cannot replace a file. Returns what failed.
private func linkIntoPlace(_ fd: Int32, _ destination: String, _ temporary: String, replacing: Bool) -> (what: String, code: Int32)? {
    let source = "/proc/self/fd/\(fd)"
    if !replacing {
        if linkat(AT_FDCWD, source, AT_FDCWD, destination, AT_SYMLINK_FOLLOW) == 0 { return nil }
        guard errno == EEXIST else { return ("cannot give the written file its name", errno) }
    }
    guard linkat(AT_FDCWD, source, AT_FDCWD, temporary, AT_SYMLINK_FOLLOW) == 0 else {
        return ("cannot give the written file its name", errno)
    }
    guard rename(temporary, destination) == 0 else {
        let code = errno
        unlink(temporary)
        return ("cannot move the written file into place", code)
    }
    return nil
}

/// Removes the temporary files of `url` (`.<name>.<UUID>.tmp`, regular files) more than a minute
/// old: those of a process killed during a write. A younger one may belong to a write under way
/// (its time stamp moves with every block written), so it stays. Best effort.
private func removeStaleTemporaries(of url: URL) {
    let folder = url.deletingLastPathComponent()
    let prefix = Array(".\(url.lastPathComponent).".utf8), suffix = Array(".tmp".utf8), uuidLength = 36
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
    for name in names {
        let bytes = Array(name.utf8)
        guard bytes.count == prefix.count + uuidLength + suffix.count, bytes.starts(with: prefix), bytes.suffix(suffix.count).elementsEqual(suffix),
              UUID(uuidString: String(decoding: bytes[prefix.count..<prefix.count + uuidLength], as: UTF8.self)) != nil else { continue }
        let path = folder.appendingPathComponent(name).path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),  // lstat: a link is not followed
              attributes[.type] as? FileAttributeType == .typeRegular,
              let modified = attributes[.modificationDate] as? Date, modified.timeIntervalSinceNow < -60 else { continue }
        unlink(path)
    }
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
