using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

public unsafe class SmokeTests
{
    [Fact]
    public void Create_Slot_Translate_Destroy()
    {
        VmHandle* vm = Ffi.VmCreateDefault();
        Assert.Equal(0, Ffi.SetV1(vm, 1, 0, 0x100000, 0x200000, 0x7f0000000000));
        Assert.Equal(0, Ffi.Translate(vm, 0, 0x101, out HvrtTranslation t));
        Assert.Equal(0x7f0000001000UL, t.Hva);
        Assert.Equal(1u, t.Slot);
        Ffi.VmDestroy(vm);
    }
}
