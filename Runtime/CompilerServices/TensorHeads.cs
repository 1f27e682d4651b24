using System;
using System.Runtime.CompilerServices;

namespace AttentionGen.CompilerServices;

/// <summary>
/// A thread's copy of one key/value head of the key and value tensors as consecutive rows, for the token-major (Bshd)
/// layout. There a head's rows lie KvHeads · HeadDim floats apart: a power-of-two stride puts every row's lines into a
/// small share of the L2 cache's sets, so the keys and values that every row block of the head reads again are evicted
/// before it does. Copied once per thread and head, they are read like a head-major tensor's.
/// </summary>
/// <remarks>
/// The copy costs what reading the head from L3 costs, and nothing found so far hides it. On an Intel Xeon (family 6
/// model 207, AVX-512), in probes: a head comes out of L3 at about 10.5 GB/s whatever its layout (the whole tensor copied
/// consecutively is no faster), so copying 8 heads of 128 over 512 tokens takes about 0.4 ms of a 4.8 ms causal call,
/// most of the gap to the head-major layout's 4.3 ms. A head-major kernel pays the same reads, but the L2 streamer
/// brings them in during its arithmetic. Prefetch hints (four to sixteen rows ahead in the copy; a row block's next rows
/// copied lazily with L2 hints given a block ahead; hints spread over the Q·Kᵀ register blocks) occupy the same L1
/// fill buffers that the copy's loads and the kernel's own L2 reads wait for: a burst of them took as long to issue as
/// the copy they saved, and spread over the register blocks they made the copy 17% faster and the call no faster.
/// </remarks>
internal static class TensorHeads
{
    [ThreadStatic]
    private static Staged? t_staged;

    /// <summary>
    /// The first <paramref name="length"/> keys of (batch entry <paramref name="b"/>, <paramref name="kvHead"/>) as
    /// consecutive rows of <paramref name="headDim"/> floats, then its values as rows of <paramref name="valueDim"/>. A
    /// thread copies them on its first work item on that head and reuses the copy for its next ones in the same call; the
    /// copy stays valid until the thread asks for another.
    /// </summary>
    /// <param name="arguments">The call; its <see cref="AttentionArguments.CallId"/> tells an earlier call's copy apart.</param>
    /// <param name="b">The batch entry.</param>
    /// <param name="kvHead">The key/value head.</param>
    /// <param name="length">The keys to copy: the entry's valid ones.</param>
    /// <param name="keys">Key row 0 of the head in the tensor.</param>
    /// <param name="keyStride">Floats from one key row to the next in the tensor.</param>
    /// <param name="headDim">Floats per key row.</param>
    /// <param name="values">Value row 0 of the head in the tensor.</param>
    /// <param name="valueStride">Floats from one value row to the next in the tensor.</param>
    /// <param name="valueDim">Floats per value row.</param>
    /// <remarks>The buffer grows to the longest head staged (4 · length · (headDim + valueDim) bytes) and is kept for reuse.</remarks>
    public static ref float Stage(
        scoped in AttentionArguments arguments, int b, int kvHead, int length,
        ref float keys, int keyStride, int headDim, ref float values, int valueStride, int valueDim)
    {
        Staged staged = t_staged ??= new Staged();
        if (staged.CallId == arguments.CallId && staged.BatchIndex == b && staged.KvHead == kvHead && staged.Length == length)
        {
            return ref staged.Buffer[0];
        }

        int size = length * (headDim + valueDim);
        if (staged.Buffer.Length < Math.Max(size, 1))
        {
            // Pinned: the row blocks take elements from the keys' and values' addresses (ISimd.ScalarFrom).
            staged.Buffer = GC.AllocateUninitializedArray<float>(Math.Max(size, 1), pinned: true);
        }

        ref float buffer = ref staged.Buffer[0];
        KernelMath.CopyRows(ref keys, keyStride, ref buffer, length, headDim);
        KernelMath.CopyRows(ref values, valueStride, ref Unsafe.Add(ref buffer, (nint)length * headDim), length, valueDim);
        (staged.CallId, staged.BatchIndex, staged.KvHead, staged.Length) = (arguments.CallId, b, kvHead, length);
        return ref buffer;
    }

    /// <summary>Which head a thread's buffer holds, and of which call.</summary>
    private sealed class Staged
    {
        public long CallId;
        public int BatchIndex, KvHead, Length;
        public float[] Buffer = Array.Empty<float>();
    }
}
