using System.Runtime.InteropServices;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Tests.Support;

/// <summary>
/// Calls the exported entry points exactly as C does: through unmanaged function pointers to the
/// [UnmanagedCallersOnly] methods, so argument checks and error mapping are what C sees.
/// </summary>
internal static unsafe class Ffi
{
    public static int VmCreate(HvrtVmConfig* cfg, VmHandle** vm)
    {
        delegate* unmanaged[Cdecl]<byte*, VmHandle**, int> f = &ExportsVm.VmCreate;
        return f((byte*)cfg, vm);
    }

    public static VmHandle* VmCreateDefault()
    {
        VmHandle* vm;
        int r = VmCreate(null, &vm);
        if (r != 0)
        {
            throw new System.InvalidOperationException($"hvrt_vm_create: {r}");
        }
        return vm;
    }

    public static VmHandle* VmCreate(HvrtVmConfig cfg)
    {
        cfg.Size = (uint)sizeof(HvrtVmConfig);
        VmHandle* vm;
        int r = VmCreate(&cfg, &vm);
        if (r != 0)
        {
            throw new System.InvalidOperationException($"hvrt_vm_create: {r}");
        }
        return vm;
    }

    public static void VmDestroy(VmHandle* vm)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, void> f = &ExportsVm.VmDestroy;
        f(vm);
    }

    public static int SetV1(VmHandle* vm, KvmUserspaceMemoryRegion* r)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmUserspaceMemoryRegion*, int> f = &ExportsSlots.SetUserMemoryRegion;
        return f(vm, r);
    }

    public static int SetV1(VmHandle* vm, uint slot, uint flags, ulong gpa, ulong size, ulong hva)
    {
        var r = new KvmUserspaceMemoryRegion { Slot = slot, Flags = flags, GuestPhysAddr = gpa, MemorySize = size, UserspaceAddr = hva };
        return SetV1(vm, &r);
    }

    public static int SetRegion2(VmHandle* vm, KvmUserspaceMemoryRegion2* r)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmUserspaceMemoryRegion2*, int> f = &ExportsSlots.SetUserMemoryRegion2;
        return f(vm, r);
    }

    public static int SetExt(VmHandle* vm, KvmUserspaceMemoryRegion2* r)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmUserspaceMemoryRegion2*, int> f = &ExportsSlots.SetUserMemoryRegionExt;
        return f(vm, r);
    }

    public static KvmUserspaceMemoryRegion2 Region(uint slot, uint flags, ulong gpa, ulong size, ulong hva, ulong offset = 0, int fd = -1)
    {
        return new KvmUserspaceMemoryRegion2
        {
            Slot = slot,
            Flags = flags,
            GuestPhysAddr = gpa,
            MemorySize = size,
            UserspaceAddr = hva,
            GuestMemfdOffset = offset,
            GuestMemfd = unchecked((uint)fd),
        };
    }

    public static int Region2(VmHandle* vm, KvmUserspaceMemoryRegion2 r) => SetRegion2(vm, &r);

    public static int SetRegions(VmHandle* vm, KvmUserspaceMemoryRegion2* regions, nuint n, int* results)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmUserspaceMemoryRegion2*, nuint, int*, int> f = &ExportsSlots.SetUserMemoryRegions;
        return f(vm, regions, n, results);
    }

    public static int Ext(VmHandle* vm, KvmUserspaceMemoryRegion2 r) => SetExt(vm, &r);

    public static int Translate(VmHandle* vm, uint asId, ulong gfn, HvrtTranslation* t)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong, HvrtTranslation*, int> f = &ExportsSlots.Translate;
        return f(vm, asId, gfn, t);
    }

    public static int Translate(VmHandle* vm, uint asId, ulong gfn, out HvrtTranslation t)
    {
        HvrtTranslation x;
        int r = Translate(vm, asId, gfn, &x);
        t = x;
        return r;
    }

    public static int TranslateBatch(VmHandle* vm, uint asId, ulong* gfns, nuint n, HvrtTranslation* t)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong*, nuint, HvrtTranslation*, int> f = &ExportsBatch.TranslateBatch;
        return f(vm, asId, gfns, n, t);
    }

    public static int ReaderRegister(VmHandle* vm, ReaderRecord** r)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ReaderRecord**, int> f = &ExportsReader.Register;
        return f(vm, r);
    }

    /// <summary>A new reader of vm (online), or throws.</summary>
    public static ReaderRecord* ReaderRegister(VmHandle* vm)
    {
        ReaderRecord* r;
        int rc = ReaderRegister(vm, &r);
        if (rc != 0)
        {
            throw new System.InvalidOperationException($"hvrt_reader_register: {rc}");
        }
        return r;
    }

    public static int ReaderUnregister(ReaderRecord* r)
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> f = &ExportsReader.Unregister;
        return f(r);
    }

    public static int ReaderQuiescent(ReaderRecord* r)
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> f = &ExportsReader.Quiescent;
        return f(r);
    }

    public static int ReaderOffline(ReaderRecord* r)
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> f = &ExportsReader.Offline;
        return f(r);
    }

    public static int ReaderOnline(ReaderRecord* r)
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> f = &ExportsReader.Online;
        return f(r);
    }

    public static int ReaderTranslate(ReaderRecord* r, uint asId, ulong gfn, HvrtTranslation* t)
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, uint, ulong, HvrtTranslation*, int> f = &ExportsReader.Translate;
        return f(r, asId, gfn, t);
    }

    public static int ReaderTranslateBatch(ReaderRecord* r, uint asId, ulong* gfns, nuint n, HvrtTranslation* t)
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, uint, ulong*, nuint, HvrtTranslation*, int> f = &ExportsReader.TranslateBatch;
        return f(r, asId, gfns, n, t);
    }

    /// <summary>A memfd of the given size (the seed design's private file).</summary>
    public static int Memfd(long size)
    {
        int fd = memfd_create("hvrt-test", 1 /* MFD_CLOEXEC */);
        if (fd < 0 || ftruncate(fd, size) < 0)
        {
            throw new System.InvalidOperationException("memfd_create failed");
        }
        return fd;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int memfd_create(string name, uint flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int ftruncate(int fd, long size);

    [DllImport("libc", SetLastError = true)]
    public static extern int close(int fd);

    [DllImport("libc", SetLastError = true)]
    public static extern int fcntl(int fd, int cmd, int arg);

    public static bool FdOpen(int fd) => fcntl(fd, 1 /* F_GETFD */, 0) >= 0;
}
