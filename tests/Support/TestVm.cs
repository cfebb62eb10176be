using System;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Tests.Support;

/// <summary>An hvrt VM for one test, destroyed on Dispose.</summary>
internal sealed unsafe class TestVm : IDisposable
{
    public const ulong Hva = 0x7f0000000000;

    /// <summary>
    /// A VM of cfg (null: the defaults) under the newest kernel profile where cfg names none:
    /// these tests check hvrt's own rules, which must not change with the host's KVM (a test of
    /// the host's profile calls <see cref="Ffi.VmCreateDefault"/>).
    /// </summary>
    public TestVm(HvrtVmConfig? cfg = null)
    {
        HvrtVmConfig c = cfg ?? default;
        if (c.KvmProfile == 0)
        {
            c.KvmProfile = KernelProfile.Newest;
        }
        Handle = Ffi.VmCreate(c);
    }

    public VmHandle* Handle { get; private set; }

    public int V1(uint slot, uint flags, ulong gpa, ulong size, ulong hva = Hva) => Ffi.SetV1(Handle, slot, flags, gpa, size, hva);

    public int Region2(uint slot, uint flags, ulong gpa, ulong size, ulong hva = Hva, ulong offset = 0, int fd = -1)
        => Ffi.Region2(Handle, Ffi.Region(slot, flags, gpa, size, hva, offset, fd));

    public int Ext(uint slot, uint flags, ulong gpa, ulong size, ulong hva = Hva, ulong offset = 0, int fd = -1)
        => Ffi.Ext(Handle, Ffi.Region(slot, flags, gpa, size, hva, offset, fd));

    public int Translate(ulong gfn, out HvrtTranslation t, uint asId = 0) => Ffi.Translate(Handle, asId, gfn, out t);

    public ulong Generation(uint asId = 0)
    {
        // A translation of a gfn in no slot reports no generation, so read it from the snapshot.
        return VmLayout.Load(&Handle->Read, asId)->Generation;
    }

    public void Dispose()
    {
        Ffi.VmDestroy(Handle);
        Handle = null;
    }
}
