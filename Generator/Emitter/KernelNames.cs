using System.Globalization;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

/// <summary>
/// Names the shared kernel class of a configuration, such as <c>Kernel_H32_KV8_D128_V128_1A2B3C4D</c>: its dims for a
/// reader, then a hash of the whole configuration and of the assembly's name. Equal configurations get equal names, so
/// every declaration of one configuration finds the same class; the assembly's name keeps two assemblies' classes apart
/// where one sees the other's internals (InternalsVisibleTo), which would otherwise be warning CS0436.
/// </summary>
internal static class KernelNames
{
    public static string Name(KernelConfiguration kernel, string assemblyName)
    {
        string key = string.Join(
            "|",
            assemblyName,
            kernel.Heads.ToString(CultureInfo.InvariantCulture),
            kernel.KvHeads.ToString(CultureInfo.InvariantCulture),
            kernel.HeadDim.ToString(CultureInfo.InvariantCulture),
            kernel.ValueDim.ToString(CultureInfo.InvariantCulture),
            ((int)kernel.Mask).ToString(CultureInfo.InvariantCulture),
            ((int)kernel.Alignment).ToString(CultureInfo.InvariantCulture),
            kernel.WindowLeft.ToString(CultureInfo.InvariantCulture),
            kernel.WindowRight.ToString(CultureInfo.InvariantCulture),
            Bits(kernel.Scale),
            Bits(kernel.Softcap),
            ((int)kernel.Layout).ToString(CultureInfo.InvariantCulture));
        return string.Format(
            CultureInfo.InvariantCulture, "Kernel_H{0}_KV{1}_D{2}_V{3}_{4}", kernel.Heads, kernel.KvHeads, kernel.HeadDim, kernel.ValueDim, Fnv.Hash(key));
    }

    /// <summary>The class's full name, as hint names and failure messages use it.</summary>
    public static string FullName(KernelConfiguration kernel, string assemblyName) => "AttentionGen.Generated." + Name(kernel, assemblyName);

    /// <summary>The class as generated code refers to it.</summary>
    public static string Reference(KernelConfiguration kernel, string assemblyName) => "global::AttentionGen.Generated." + Name(kernel, assemblyName);

    private static string Bits(float value)
    {
        // BitConverter.SingleToInt32Bits is not in netstandard2.0.
        byte[] bytes = System.BitConverter.GetBytes(value);
        return System.BitConverter.ToInt32(bytes, 0).ToString("X8", CultureInfo.InvariantCulture);
    }
}

/// <summary>FNV-1a over a string's UTF-16 code units, as 8 hex digits: the same on every machine and run.</summary>
internal static class Fnv
{
    public static string Hash(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash.ToString("X8", CultureInfo.InvariantCulture);
    }
}
