using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.CompilerServices;

/// <summary>Small vector helpers shared by generated kernels. Used by generated code; not meant to be called directly.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class KernelMath
{
    /// <summary>The largest lane of <paramref name="vector"/>; NaN if any lane is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> vector) => MaxAcross(Vector256.Max(vector.GetLower(), vector.GetUpper()));

    /// <inheritdoc cref="MaxAcross(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> vector) => MaxAcross(Vector128.Max(vector.GetLower(), vector.GetUpper()));

    /// <inheritdoc cref="MaxAcross(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> vector)
    {
        Vector128<float> pairs = Vector128.Max(vector, Vector128.Shuffle(vector, Vector128.Create(2, 3, 0, 1)));
        return Vector128.Max(pairs, Vector128.Shuffle(pairs, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }
}
