using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using AttentionGen;

namespace Benchmarks;

/// <summary>
/// Checks that prefill needs O(N·d) memory: at N = 16384, H = 8, d = 64, everything the process ever allocated
/// (an upper bound on its peak managed memory) against the bytes of Q, K, V and O.
/// </summary>
public static class MemoryCheck
{
    public static int Run()
    {
        const int n = 16384, heads = 8, dim = 64;
        AttentionRuntime.MaxDegreeOfParallelism = Environment.ProcessorCount;
        long tensorBytes = 4L * heads * n * dim * sizeof(float);
        float[] query = Fill(heads * n * dim, 1), key = Fill(heads * n * dim, 2), value = Fill(heads * n * dim, 3);
        var output = new float[heads * n * dim];

        long before = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        Prefill64.Forward(query, key, value, output, 1, n, n);
        clock.Stop();
        long during = GC.GetTotalAllocatedBytes(precise: true) - before;
        long total = GC.GetTotalAllocatedBytes(precise: true);
        double ratio = (double)total / tensorBytes;

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"N = {n}, H = {heads}, d = {dim}, {AttentionRuntime.MaxDegreeOfParallelism} threads, {clock.Elapsed.TotalSeconds:F2} s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Q, K, V and O: {tensorBytes / 1048576.0:F1} MiB"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allocated during the call: {during / 1024.0:F1} KiB"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allocated by the process in all (bounds the peak managed memory): {total / 1048576.0:F1} MiB = {ratio:F3} x Q, K, V and O"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak resident set of the process: {PeakResidentMiB():F1} MiB"));
        bool finite = output.All(float.IsFinite);
        Console.WriteLine(ratio <= 1.2 && finite ? "within 1.2x: yes" : "within 1.2x: NO");
        return ratio <= 1.2 && finite ? 0 : 1;
    }

    private static float[] Fill(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return values;
    }

    private static double PeakResidentMiB()
    {
        string? line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) : null;
        return line is null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }
}
