using System;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// .ci/run repeats these tests with DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0, DOTNET_EnableAVX=0 and
/// DOTNET_EnableHWIntrinsic=0 so that the Vector256 path, the Vector128 path with AVX (whose register blocks broadcast
/// from memory with vbroadcastss) and with SSE alone (x86-64-v2, a default NativeAOT build), and the scalar path each
/// run, and once more built for linux-arm64 under emulation (NEON). This checks that each switch really turns the wider
/// paths off, so the runs cannot silently test the same path again, and that without a switch the paths match the CPU.
/// </summary>
public sealed class InstructionSetTests
{
    [Fact]
    public void The_instruction_set_switches_take_effect()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
            Assert.False(Vector256.IsHardwareAccelerated);
            Assert.False(Avx2.IsSupported);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX") == "0")
        {
            Assert.False(Vector256.IsHardwareAccelerated);
            Assert.False(Avx.IsSupported);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0")
        {
            Assert.False(Vector128.IsHardwareAccelerated);
        }
        else if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture is System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.Arm64)
        {
            Assert.True(Vector128.IsHardwareAccelerated, "SSE and NEON are part of every x64 and Arm64 baseline");
        }

        // Against what the processor says of itself (Linux x64): a wider path runs only where the CPU has it, and
        // AVX2 runs wherever the CPU has it and no switch turns it off.
        if (OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64)
        {
            string flags = " " + System.Linq.Enumerable.FirstOrDefault(System.IO.File.ReadLines("/proc/cpuinfo"), line => line.StartsWith("flags", StringComparison.Ordinal)) + " ";
            if (Vector512.IsHardwareAccelerated)
            {
                Assert.Contains(" avx512f ", flags);
            }

            if (Vector256.IsHardwareAccelerated)
            {
                Assert.Contains(" avx2 ", flags);
            }

            bool avxOff = Environment.GetEnvironmentVariable("DOTNET_EnableAVX") == "0" || Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0";
            bool avx2Off = avxOff || Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0";
            if (flags.Contains(" avx2 ", StringComparison.Ordinal) && !avx2Off)
            {
                Assert.True(Vector256.IsHardwareAccelerated, "the CPU has AVX2 and no switch turns it off");
            }

            // DOTNET_EnableAVX2=0 keeps AVX, so that run takes the Vector128 blocks' vbroadcastss branch.
            if (flags.Contains(" avx ", StringComparison.Ordinal) && !avxOff)
            {
                Assert.True(Avx.IsSupported, "the CPU has AVX and no switch turns it off");
            }
        }

        // On Arm64 (CI runs these tests there under emulation), the NEON path: Vector128 with the 32-register file that
        // sizes its register blocks, and the AdvSimd branches of the transposes and the half widening.
        if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64
            && Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") != "0")
        {
            Assert.True(AdvSimd.Arm64.IsSupported, "AdvSimd is part of every Arm64 baseline");
            Assert.False(Vector256.IsHardwareAccelerated);
            Assert.True(CompilerServices.Simd128.HasWideRegisterFile);
            Assert.True(CompilerServices.Simd128.MultipliesByLane, "NEON's blocks multiply by element");
        }
        else
        {
            Assert.False(CompilerServices.Simd128.MultipliesByLane);
        }

        Console.WriteLine(
            $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}: " +
            $"Vector512: {Vector512.IsHardwareAccelerated}, Vector256: {Vector256.IsHardwareAccelerated}, Vector128: {Vector128.IsHardwareAccelerated}, " +
            $"AVX: {Avx.IsSupported}, AVX2: {Avx2.IsSupported}, AdvSimd.Arm64: {AdvSimd.Arm64.IsSupported}");
    }

    /// <summary>
    /// The register blocks' multiply-adds by one element (<see cref="CompilerServices.ISimd{TVector}.MultiplyAddScalar"/>
    /// of <see cref="CompilerServices.ISimd{TVector}.ScalarFrom"/>: a broadcast on x64, NEON's multiply by element on
    /// Arm64) and by each lane of a loaded vector (<see cref="CompilerServices.ISimd{TVector}.MultiplyAddLane"/>), on every
    /// width this run accelerates and its pairs of vectors, against the products computed one float at a time: every lane
    /// of the result, for every element and lane taken.
    /// </summary>
    [Fact]
    public void Multiply_adds_by_an_element_or_a_lane_give_every_lane_the_product()
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Check<CompilerServices.Simd512, Vector512<float>>();
        }

        if (Vector256.IsHardwareAccelerated)
        {
            Check<CompilerServices.Simd256, Vector256<float>>();
            Check<CompilerServices.SimdPair<CompilerServices.Simd256, Vector256<float>>, CompilerServices.VectorPair<Vector256<float>>>();
        }

        if (Vector128.IsHardwareAccelerated)
        {
            Check<CompilerServices.Simd128, Vector128<float>>();
            Check<CompilerServices.SimdPair<CompilerServices.Simd128, Vector128<float>>, CompilerServices.VectorPair<Vector128<float>>>();
        }

        static void Check<TSimd, TVector>()
            where TSimd : struct, CompilerServices.ISimd<TVector>
            where TVector : struct
        {
            int n = TSimd.Count;
            float[] vector = new float[n], addend = new float[n], elements = new float[n], result = new float[n];
            for (int i = 0; i < n; i++)
            {
                vector[i] = 1.5f + i;
                addend[i] = -0.25f * i;
                elements[i] = 3f - 0.5f * i;
            }

            TVector v = TSimd.Load(ref vector[0], 0), a = TSimd.Load(ref addend[0], 0), e = TSimd.Load(ref elements[0], 0);
            for (int j = 0; j < n; j++)
            {
                TSimd.Store(TSimd.MultiplyAddScalar(v, TSimd.ScalarFrom(ref elements[j]), a), ref result[0], 0);
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(vector[i] * elements[j] + addend[i], result[i]);
                }
            }

            // The lane is a constant in the kernels; these four are the ones NEON's blocks take.
            for (int lane = 0; lane < Math.Min(n, 4); lane++)
            {
                TVector product = lane switch
                {
                    0 => TSimd.MultiplyAddLane(v, e, 0, a),
                    1 => TSimd.MultiplyAddLane(v, e, 1, a),
                    2 => TSimd.MultiplyAddLane(v, e, 2, a),
                    _ => TSimd.MultiplyAddLane(v, e, 3, a),
                };
                TSimd.Store(product, ref result[0], 0);
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(vector[i] * elements[lane] + addend[i], result[i]);
                }
            }
        }
    }
}
