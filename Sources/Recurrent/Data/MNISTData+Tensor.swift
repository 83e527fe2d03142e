extension MNISTData.Split {
    /// The images at `indices` as a tensor `[B, rows, cols]` of pixel / 255: a batch-first input
    /// that reads each image row by row, one row of `cols` pixels per time step.
    ///
    /// Every index must be in `0..<count` (a precondition).
    public func imageBatch(_ indices: some Collection<Int>) -> Tensor {
        Tensor(shape: [indices.count, rows, cols], scalars: images(at: indices))
    }
}
