using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Per-thread working memory for generated kernels: one pinned, 64-byte-aligned buffer per thread, allocated on the
/// first call and grown only when a kernel needs more, so a call allocates nothing after the first. Used by
/// generated code; not meant to be called directly.
/// </summary>
internal static unsafe class KernelScratch
{
    private const int Alignment = 64;

    [ThreadStatic]
    private static float[]? t_buffer;

    [ThreadStatic]
    private static int t_offset;

    [ThreadStatic]
    private static float[]? t_callBuffer;

    [ThreadStatic]
    private static int t_callOffset;

    /// <summary>
    /// This thread's scratch, at least <paramref name="floats"/> long and starting on a 64-byte boundary. Its contents
    /// are whatever the last kernel on this thread left; it stays valid until this thread asks again.
    /// </summary>
    public static Span<float> Get(int floats)
    {
        float[]? buffer = t_buffer;
        if (buffer is null || buffer.Length - t_offset < floats)
        {
            buffer = Grow(ref t_buffer, ref t_offset, floats);
        }

        return buffer.AsSpan(t_offset, floats);
    }

    /// <summary>
    /// A second buffer of the calling thread, for what one call shares among all its threads (the partial states of a
    /// split-KV decode): separate from <see cref="Get"/>, which the calling thread's own work items use meanwhile.
    /// </summary>
    public static Span<float> GetForCall(int floats)
    {
        float[]? buffer = t_callBuffer;
        if (buffer is null || buffer.Length - t_callOffset < floats)
        {
            buffer = Grow(ref t_callBuffer, ref t_callOffset, floats);
        }

        return buffer.AsSpan(t_callOffset, floats);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float[] Grow(ref float[]? slot, ref int offset, int floats)
    {
        // Pinned, so the alignment computed here holds for the buffer's lifetime.
        float[] buffer = GC.AllocateUninitializedArray<float>(floats + Alignment / sizeof(float), pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        offset = (int)((Alignment - (address & (Alignment - 1))) & (Alignment - 1)) / sizeof(float);
        slot = buffer;
        return buffer;
    }
}
