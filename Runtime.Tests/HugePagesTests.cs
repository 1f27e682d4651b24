using System;
using System.IO;
using System.Runtime.InteropServices;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>The cache's storage is advised for transparent huge pages on Linux, and the advice is never given where it cannot help.</summary>
public sealed class HugePagesTests
{
    [Fact]
    public void A_large_array_is_advised_where_linux_has_transparent_huge_pages()
    {
        byte[] array = GC.AllocateUninitializedArray<byte>(8 << 20, pinned: true);
        bool advised = HugePages.Advise(ref MemoryMarshal.GetArrayDataReference(array), array.Length);

        // A kernel built with transparent huge pages has this file, whatever its mode; madvise(MADV_HUGEPAGE) succeeds
        // there even in mode "never". Elsewhere (another system, or a kernel without them) no advice is given.
        bool expected = OperatingSystem.IsLinux() && File.Exists("/sys/kernel/mm/transparent_hugepage/enabled");
        Assert.Equal(expected, advised);
    }

    [Fact]
    public void A_range_shorter_than_two_huge_pages_is_left_alone()
    {
        byte[] array = GC.AllocateUninitializedArray<byte>((4 << 20) - 1, pinned: true);
        Assert.False(HugePages.Advise(ref MemoryMarshal.GetArrayDataReference(array), array.Length));
    }

    [Fact]
    public void A_cache_advised_for_huge_pages_reads_back_what_was_written()
    {
        // 2 key/value heads of 64 over 16384 slots: 8 MiB per tensor in Single, advised before the first write.
        var cache = new KvCache(batch: 1, kvHeads: 2, headDim: 64, valueDim: 64, capacity: 16384, KvCachePrecision.Single);
        var random = new Random(3);
        float[] keys = new float[16384 * 2 * 64], values = new float[keys.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = (float)random.NextDouble();
            values[i] = (float)random.NextDouble();
        }

        cache.Append(keys, values, 16384);
        float[] readKeys = new float[keys.Length], readValues = new float[values.Length];
        cache.CopyKeys(0, readKeys);
        cache.CopyValues(0, readValues);
        // Appended token-major, [tokens, kvHeads, dim]; read back head-major, [kvHeads, tokens, dim].
        for (int t = 0; t < 16384; t++)
        {
            for (int h = 0; h < 2; h++)
            {
                Assert.True(keys.AsSpan((t * 2 + h) * 64, 64).SequenceEqual(readKeys.AsSpan((h * 16384 + t) * 64, 64)));
                Assert.True(values.AsSpan((t * 2 + h) * 64, 64).SequenceEqual(readValues.AsSpan((h * 16384 + t) * 64, 64)));
            }
        }
    }
}
