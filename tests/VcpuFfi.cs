using System;
using System.Runtime.InteropServices;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.RunLoop;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Tests;

/// <summary>The hvrt_vcpu_* exports called as C calls them, and a hand-built struct kvm_run.</summary>
internal static unsafe class VcpuFfi
{
    public const int Unhandled = 0;
    public const int Resume = 1;
    public const uint ExitHypercall = 3;
    public const uint ExitMmio = 6;
    public const uint ExitHlt = 5;
    public const uint ExitMemoryFault = 39;
    public const ulong FaultPrivate = 1UL << 3;
    public const ulong Encrypted = 1UL << 4;

    public static int Create(VmHandle* vm, int fd, byte* run, Vcpu** v)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, int, byte*, Vcpu**, int> f = &ExportsVcpu.Create;
        return f(vm, fd, run, v);
    }

    public static Vcpu* Create(VmHandle* vm, byte* run)
    {
        Vcpu* v;
        int r = Create(vm, -1, run, &v);
        return r == 0 ? v : throw new InvalidOperationException($"hvrt_vcpu_create: {r}");
    }

    public static void Destroy(Vcpu* v)
    {
        delegate* unmanaged[Cdecl]<Vcpu*, void> f = &ExportsVcpu.Destroy;
        f(v);
    }

    public static ReaderRecord* Reader(Vcpu* v)
    {
        delegate* unmanaged[Cdecl]<Vcpu*, ReaderRecord*> f = &ExportsVcpu.Reader;
        return f(v);
    }

    public static int Enter(Vcpu* v)
    {
        delegate* unmanaged[Cdecl]<Vcpu*, int> f = &ExportsVcpu.Enter;
        return f(v);
    }

    public static int Exit(Vcpu* v)
    {
        delegate* unmanaged[Cdecl]<Vcpu*, int> f = &ExportsVcpu.Exit;
        return f(v);
    }

    public static int Handle(Vcpu* v, int ret, int err)
    {
        delegate* unmanaged[Cdecl]<Vcpu*, int, int, int> f = &ExportsVcpu.HandleExit;
        return f(v, ret, err);
    }

    public static int Info(Vcpu* v, HvrtExitInfo* info)
    {
        delegate* unmanaged[Cdecl]<Vcpu*, HvrtExitInfo*, int> f = &ExportsVcpu.ExitInfo;
        return f(v, info);
    }

    public static HvrtExitInfo Info(Vcpu* v)
    {
        HvrtExitInfo i;
        int r = Info(v, &i);
        return r == 0 ? i : throw new InvalidOperationException($"hvrt_vcpu_exit_info: {r}");
    }

    public static int Run(Vcpu* v)
    {
        delegate* unmanaged[Cdecl]<Vcpu*, int> f = &ExportsVcpu.Run;
        return f(v);
    }

    /// <summary>A zeroed page standing in for the mmap'ed struct kvm_run.</summary>
    public static byte* NewRun() => (byte*)NativeMemory.AlignedAlloc(4096, 4096) is var p ? Zero(p) : null;

    private static byte* Zero(byte* p)
    {
        NativeMemory.Clear(p, 4096);
        return p;
    }

    public static void FreeRun(byte* run) => NativeMemory.AlignedFree(run);

    public static void MemoryFault(byte* run, ulong flags, ulong gpa, ulong size = 4096)
    {
        *(uint*)(run + 8) = ExitMemoryFault;
        *(ulong*)(run + 32) = flags;
        *(ulong*)(run + 40) = gpa;
        *(ulong*)(run + 48) = size;
    }

    public static void Hypercall(byte* run, ulong nr, ulong a0, ulong a1, ulong a2, ulong flags = 1)
    {
        *(uint*)(run + 8) = ExitHypercall;
        *(ulong*)(run + 32) = nr;
        *(ulong*)(run + 40) = a0;
        *(ulong*)(run + 48) = a1;
        *(ulong*)(run + 56) = a2;
        *(ulong*)(run + 88) = 0; // KVM pre-zeroes ret
        *(ulong*)(run + 96) = flags;
    }

    public static ulong Ret(byte* run) => *(ulong*)(run + 88);

    public static void Mmio(byte* run, ulong gpa, uint len, bool write, ushort runFlags = 0)
    {
        *(uint*)(run + 8) = ExitMmio;
        *(ushort*)(run + 14) = runFlags;
        *(ulong*)(run + 32) = gpa;
        *(ulong*)(run + 40) = 0x1122334455667788;
        *(uint*)(run + 48) = len;
        run[52] = write ? (byte)1 : (byte)0;
    }
}
