//! Known answers from a real IKEv1 exchange between two strongSwan 5.9.8 charon instances
//! (Main Mode with a pre-shared key, then Quick Mode for an ESP tunnel and an
//! Informational Delete), one exchange per IKE proposal: aes128-sha1-modp1024,
//! aes256-sha256-modp2048 and 3des-sha1-modp1024 (the last one needs the appendix B
//! extension of SKEYID_e). Both peers used the pre-shared key "ikehub-v1-kat-psk" and
//! IPv4 address identities (10.199.0.1 initiating, 10.199.0.2 responding); the ESP
//! proposals were aes128-sha1, aes256-sha256 and 3des-sha1.
//!
//! The messages are as captured on the wire (cookies, SA, KE and nonce payload bodies,
//! and the encrypted messages whole). The key material, IVs and HASH values are what the
//! initiator's charon logged at level 4 (its `keymat_v1` and the ISAKMP tasks): the
//! shared Diffie-Hellman secret, SKEYID, SKEYID_d/a/e, the encryption key, the initial
//! IV, HASH_I, HASH_R, Hash(1), Hash(2), the IV of each exchange and the ESP keys.
//!
//! From the pre-shared key, the nonces, g^xy and the cookies, every derived value must
//! match strongSwan's; the captured messages must decrypt with them, carry the HASH
//! payloads our functions compute, and encrypt back to the same octets.
//!
//! The kernel the peers ran on had no ESP, so the initiator could not install the SAs
//! after Quick Mode message 2: it sent no message 3 (so there is no HASH(3) here) and
//! deleted the ESP SA in an Informational exchange instead, which is the one below.

use super::*;
use crate::algorithm::{Encryption, Integrity};
use crate::crypto::testing::hex;

const PSK: &[u8] = b"ikehub-v1-kat-psk";

/// ISAKMP header length (RFC 2408 section 3.1).
const HEADER: usize = 28;
/// Payload types (RFC 2408 section 3.1).
const HASH: u8 = 8;
const ID: u8 = 5;
const NONCE: u8 = 10;
/// Protocol ID of ESP (RFC 2407 section 4.4.1).
const PROTO_ESP: u8 = 3;

struct Vector {
    proposal: &'static str,
    encryption: Encryption,
    hash: Integrity,
    cky_i: u64,
    cky_r: u64,
    sai_b: &'static str,
    g_xi: &'static str,
    g_xr: &'static str,
    ni_b: &'static str,
    nr_b: &'static str,
    g_xy: &'static str,
    skeyid: &'static str,
    skeyid_d: &'static str,
    skeyid_a: &'static str,
    skeyid_e: &'static str,
    encryption_key: &'static str,
    phase1_iv: &'static str,
    hash_i: &'static str,
    hash_r: &'static str,
    /// Main Mode messages 5 and 6, header included.
    main5: &'static str,
    main6: &'static str,
    /// IV of the Quick Mode exchange, and its messages 1 and 2.
    quick_iv: &'static str,
    quick1: &'static str,
    quick2: &'static str,
    hash1: &'static str,
    hash2: &'static str,
    /// The initiator-to-responder ESP SA: its SPI (chosen by the responder) and keys.
    spi_i: u32,
    encr_i: &'static str,
    integ_i: &'static str,
    /// The responder-to-initiator ESP SA.
    spi_r: u32,
    encr_r: &'static str,
    integ_r: &'static str,
    /// IV, message and HASH of the Informational exchange (a Delete of the ESP SA).
    info_iv: &'static str,
    info: &'static str,
    info_hash: &'static str,
}

/// aes128-sha1-modp1024.
const AES128_SHA1_MODP1024: Vector = Vector {
    proposal: "aes128-sha1-modp1024",
    encryption: Encryption::AesCbc { key_bits: 128 },
    hash: Integrity::HmacSha1_96,
    cky_i: 0x9e11853b11369b19,
    cky_r: 0xf9a35f8f11b910c3,
    sai_b: "00000001000000010000002c01010001000000240101000080010007800e0080
        800200028004000280030001800b0001800c3de0",
    g_xi: "41217a83d441d019b63a6b2488640be8162e4cd0ffe1375d8c9567e0cebef08c
        08e70d30264140c667834bccb15edbb1dd53ab601c448f6c4c240f524b23b891
        aab121d0674493faa30c711ead065173153ea5d0f9088794d6d572716b6e3c13
        0ee400e17479ac64ad7a365f79bcbf4ad6e99480b2e318c4336da69f4253b586",
    g_xr: "fcce2e74d99a2ef959e4c1226cc7fc700936e13b5ceaa530b0c04df69cc322ae
        bc8711e0028b663f7258eb3126cb73f45ac123160ff217063963a8cefb99f45f
        84a66f9fa4d18cb5d934f3c6feef4ec6be8e618d5e7f7105002b322f3873021c
        ad9c90ea8577e9c65635360fce053566e8cbf548f595ca8f09d36db2ba494066",
    ni_b: "2614c334ffcc11a262df9f100dc0ecdd7676f60a640fcb025864c74e5da27143",
    nr_b: "a2d5782efc62a2e57acbdb2962351206b58969c5a9b6f5ee4ebd3efb5d047e9b",
    g_xy: "af52f4f404e10eeee9db5e972dd871cceddfa4b141eb7e1094c88b81b4c2d9ca
        6b5f57dc6619850b3abcd9dbd5843b48475069f94479dd885fc55cfb26318f19
        9a46880ee2d0366aa6246362aed7e2d6c559c4626baa62b2f88988b8cb5364bf
        01f3f5c9e091d8a74a216adc71269aa6bd6ac0c94c6b6651a4e62c3c7b57a8c7",
    skeyid: "3eb5abe78e970e51afb7b05394f74419db4d8c47",
    skeyid_d: "032d0539aea5ac0b1d24b3c35771678b74282e2b",
    skeyid_a: "e917e23f3e42aae522271ddf1e2eb698fe713e8c",
    skeyid_e: "43570c7733a97897fe3ad68eee13af956a72d63a",
    encryption_key: "43570c7733a97897fe3ad68eee13af95",
    phase1_iv: "d3d945b00997be4bcfc09373243af409",
    hash_i: "baee70956433b0269c16a241fdd6be96cfe7e470",
    hash_r: "72ce09af8a2f645508e23d777dc7bab1d1e16da3",
    main5: "9e11853b11369b19f9a35f8f11b910c305100201000000000000006c0f770500
        6f78bd439cc3bd0fff2b075299ae9ae3844ea0d01f18b433c39b51774650209c
        b4988e6ded01ab0298a99b88f93ef94da6535023f5fad81fb85d5e84df61349b
        06adaede1a91a6e15242550d",
    main6: "9e11853b11369b19f9a35f8f11b910c305100201000000000000004c2c694b46
        101d571dea86fcfd6af6820194f5a9a4c67a2f11d5925012465066bea612e026
        a0f2ca7ca7cdf6174aa8c883",
    quick_iv: "85adc0c585716f9f956df32ec0aad74c",
    quick1: "9e11853b11369b19f9a35f8f11b910c308102001fe3290ca000000bcff69c70f
        35748cb806828699fc5a01d20ec67bae1135ab6d6bdd537a60dbdb576e519140
        f39ac0c5a97f2cbde857fbaf1a03620b1543fa00dd060830fb8af9771c96ffac
        1d5093f1ddee39f92a196f316359c270a45d7bb47fee4c2a1e1492081679f997
        9712ef0dd5bacfc84f789f0d23df812e7146faf9f3acba67891ea6fd43252c83
        a1495da015271c0f8d1833eb5d3fcbc13b88a0da9e10065e88e62e81",
    quick2: "9e11853b11369b19f9a35f8f11b910c308102001fe3290ca000000bc7739f7b5
        a5c4e525f041a738ccdbbb93f0ea32cf7b36bbe0bd40ebb42db8ef9ec0b7b988
        de71a9b24252cf472212e09fc6dec063f5a6bd886f7aeb00877dc0d4d0b8af0a
        b906e240f2b2d60c55196b73cf246ea982938327e5e1d9e8e001c9821157a9fc
        c21d4bd0d9610ad98680fbb068bb18249d52670512f994a7f0c853c1233d98fd
        7b8fd03777aad50c822cee62ff8064f095e865b38c0311fa5c901bd9",
    hash1: "f8e7914902657b601df5f6818d7599d8608a6b5b",
    hash2: "c24e5477e464e6869d2877bceb00daa62fb62d2d",
    spi_i: 0xc8589bce,
    encr_i: "14a6b82179461d8040b59fb5fa6faf0e",
    integ_i: "7c940b419053daaccd10477c30aebef339e73f8d",
    spi_r: 0xc3dd86e1,
    encr_r: "3d8012c15443f938d5210dcde504e4f9",
    integ_r: "64168efd6afbc138082e985c91ca424bee61a824",
    info_iv: "c8cea412c3145d3726aa9217d8c6699b",
    info: "9e11853b11369b19f9a35f8f11b910c308100501024f94c80000004c54b3fe74
        3f47754e6bc9219a622c32aa9dfb3e6a09c15ca8cb54a89677bcc7241e7ecfbd
        668d763d163e423710874fbc",
    info_hash: "c2f7d5d0ed37ffe071eb4ac980af41b62169fad4",
};

/// aes256-sha256-modp2048.
const AES256_SHA256_MODP2048: Vector = Vector {
    proposal: "aes256-sha256-modp2048",
    encryption: Encryption::AesCbc { key_bits: 256 },
    hash: Integrity::HmacSha256_128,
    cky_i: 0xc4aac551c6cb7f99,
    cky_r: 0x06ae1e4b82541fb5,
    sai_b: "00000001000000010000002c01010001000000240101000080010007800e0100
        800200048004000e80030001800b0001800c3de0",
    g_xi: "7f02ef3276c7d9929399f1e5ef6ef6a579c75ab1ea51879fc47a5cba6dc08a29
        6a3cf422b3bbf54e46eb6e3e015001ad4faa8cc3c831963682f9748814e5e03b
        aa8f32f75a99acb596ac26a9f5ebce86994f5058d366b2f7d3b5a76f0ca618c7
        9f5f5dbb1f206c224ef03b3f3d51ec095fc63f5c89629c7d11e1cd1351ab3a25
        4ee4ccf82ee506c2d38a47924057dc1274eb1011a574cefd9ce968e85411013c
        0bbd8a7db22364e90505a82b27dd26c4a4fc80753ee94cb504804c684de44ec8
        c932c94ff77e15ba457627dab7bcf7a0d3579a156a1bb5a3fd1d8b2a697788ba
        6b7bde09db26adf79d410b14d9eb01b4495685c9dbf026706d4ba5cc5de9469c",
    g_xr: "71ac1635abead32b262c6c24d870a5ff5708a77646ac2afce6dd4d2ad15d39fe
        6f36612f2c0d5e5433e8af83a0c7bc24197a0c04f431d7a606a280e0b7702e89
        6a3c83fbeff3cafedc4ccc92387f609567fc17651d6adb6ca5b0a01d05ab7667
        697ad4cd7bcea39b0b94920848b27494b3ba8f23054f1bd645c1206362daa688
        5f29365aeddcda9d82954d0ec81b2592dfaa9697be03ab5a68f36112eb338a1b
        d1f9ac95291e442309f6d2a7cf1be549e0926ef138e36054651cead18af123b2
        90bfd9960517bf6f61c9e5e03cf51d8c84c46c3c15ec2d0da0ba5998989863fd
        2c27a4cc2cd39179d3dec44f5fe757f802cdfd3090c28c6ded6c268bbb7b2346",
    ni_b: "d00bf4ee470987e5a7b46d25b9442d147bbc8dc5397a2aecba0fd2f73feeabee",
    nr_b: "28c81697e1a6a0655bf900199f110ed295d5c24e88c3b003b43afa8fd96cad7e",
    g_xy: "d68dc77921eb71bde66fd04b80ca4b7f36dd5ddda2c4b003de70c656d6814afe
        c31a36f5ed1702c764da36d34bcae5b7150adcb8fdd08419520a8c5bba91fdf3
        1d23c7403e1841dc1e96ddcd90261569a36865d44f37a44e23ff18382e4aca34
        4906e7469aa74cc2b9be6a6278ca43dc99c6cd941973e940aef767db61da16fb
        7ddc47be08a4311881ba9a1266c26568e7505480ba0bbaf246d82056a0311d9b
        bf51637f4dcf4778fd04d25a3e6e51117da3251587d59f5a610936ff7a5e47c8
        cb8b410d4cf3f226912792608d7945c892adb030bccc7c0f3e478977514e1b55
        747e4e74b1f292b7ba89a18cf785d3838d7aa059a88c814ff64a90493978cd6a",
    skeyid: "9844c74805edd59499b9a919009749db55ea5e3f4ed63ead5b68a03ebac88e09",
    skeyid_d: "9ac5cc34553685e14c4e2a9c012f5998caab8bbc352163f6214e1eca1ce24652",
    skeyid_a: "e6411b70fb9ced4306443de0c8e05869ebfaa05f713cd6b7d0324fae3e2d0d12",
    skeyid_e: "04810559fa80e6e7975cbdaf1d469994fd9a70a9deaba3ea3c4830d40d27d105",
    encryption_key: "04810559fa80e6e7975cbdaf1d469994fd9a70a9deaba3ea3c4830d40d27d105",
    phase1_iv: "6ddc42d902cd24c4e20f58e177868117",
    hash_i: "3539db3158c8b8cef88c28c547c882fdeaf7d3d69ff16da72c26901e381f44cd",
    hash_r: "28cac3e557c50fe013f3300a006eec3356af3d54aaa76ce7c79e79cf91614994",
    main5: "c4aac551c6cb7f9906ae1e4b82541fb505100201000000000000005c7b67a8bc
        73ae353a5aef855d0818bd240837645673b7ea96ccd8933de18aecb0e3c6cd86
        b7bb0adffba94c78c75686acbba2c88fc620c4a9cfe14ca463eabea8",
    main6: "c4aac551c6cb7f9906ae1e4b82541fb505100201000000000000005c1d29ffee
        617cf48a6a5e1d077eb39d24b17527a5b107bf171673416e3833d47cb97e3213
        9daa330c83024884a694d67941744b4e5440973468d772c5126e7e1c",
    quick_iv: "7d725f0e3dfe8dd164ad6eb61a3e7616",
    quick1: "c4aac551c6cb7f9906ae1e4b82541fb5081020015b8da8d6000000bc1f55a867
        d2da533be1e0fd1415867ae0441ccf60e03a74b431b79c09725b1c9dc0b25466
        1abfb91d4b029dd504c1a60518be8523ae105c3c090817dc9ab719768e00eb84
        07d53f187d683c24e183aaefc35a13f8f28786c46b794f7aae5de9395703822b
        c4b224ed61b4a99cd9baae96d71fa5cdb5be87ab0195d108f8f58e54b4c5ec0b
        5cbda2db2182300e70d7e9ad8d6fb7d57ea4d98ad815f080cdc327a0",
    quick2: "c4aac551c6cb7f9906ae1e4b82541fb5081020015b8da8d6000000bccf3f3569
        21bf761b0c980130584f64b509c0f1c6f3caa1b1d9a0ef9bdcda85a7cd6b424b
        68ec8e25401af37be02b1224d834f76d1ba27d2cf7407b9574400400286a85ae
        a27a5832b137e1bbf46d3e6cf61b5245e9b814296f1fa531d40bb13bdead7263
        1462b87ab2187f76138b6854877cfa10b07967be756b28a09e62b3dfd4942cab
        66c85f8cb988db437bf91eb538e7d3ecc39746a1aff7e810ec810b58",
    hash1: "be335cee38e6b5f7d9b509691237300445597ec2903631d8df3c1aa790953570",
    hash2: "8645b3433e5ee851a19591f72c5af43909a10f9976cdae9c305a971b3550a097",
    spi_i: 0xc066d282,
    encr_i: "7530ca3714428a872f109695f9267e22061d914cfdebdbff3011fd666c2347c1",
    integ_i: "c97fd46c9d9b6009e491ff7adefaeb58d0177f3f9d0f2f999c088221fbdf7407",
    spi_r: 0xc1247195,
    encr_r: "98fc7e9e31c32f790f05d6a76e99f308c0f07105779a8338e7b23f2161c190c0",
    integ_r: "a87026da79b4e41f80fe67d263ff3ec684b5eb81b40caa64071b9ff3043ffef0",
    info_iv: "acff2a5c2fa7e1678e58b570f3f891cf",
    info: "c4aac551c6cb7f9906ae1e4b82541fb508100501ef79e8690000005ca44eaf46
        fb49f2990c5d4ae31b5e7be8545f226c37ed3b7a665ce29401758068a6144d47
        2929280cd0fb6a92e3a5ac8be60b2cac49e9abbb21ed5a38a8a985ac",
    info_hash: "2cea59296004ac4cb5d39b426aeeca16cf02e8940bd4165b5aef8f2c651a8955",
};

/// 3des-sha1-modp1024.
const TDES_SHA1_MODP1024: Vector = Vector {
    proposal: "3des-sha1-modp1024",
    encryption: Encryption::TripleDes,
    hash: Integrity::HmacSha1_96,
    cky_i: 0xe369873c70d3f123,
    cky_r: 0xacfa02e937da53ac,
    sai_b: "0000000100000001000000280101000100000020010100008001000580020002
        8004000280030001800b0001800c3de0",
    g_xi: "f43f83e36ad218ed7884da341b317ca8323c34301b8f20d90f7e41ae71ee4623
        1adc7cead914f86692e4427dc5ae34a4ca1d2867ed14c2e543461c483a46288d
        c997303c5c1acac2767d5f0d28a0eb5569211135f2ffb2a1fc6365e0ad7992c5
        c2fab9151ce9cb0f005cfae679d3a53cedb32c4ffec87db8c33bfd08da237880",
    g_xr: "c7db4c22088e686ee4db210233e6cd07aca67d07db123fe1999383712f6fbd9b
        f60a9dc68ce4efd62eb3cda6418e0ff78472cdd866c384ac5934a7af165dec21
        d54d510c5815728b2bf272c186d0be758137ad41e0745fb2b5cb770e72479f12
        3a8ea90d8ea29a04c61dfc7d8b50df9bda953c9691cf4fb3242873553f10f296",
    ni_b: "a8d198105019f1c5b080f75b9f94a750c5a67864b21e49bfeb365313242e8914",
    nr_b: "cb2f54f9c072f0bdc53ec3add85fb11f1a7194bc11a39f0860e581b34b2fd011",
    g_xy: "17f9d2d9c177d7b51838a4022401c6b817d4c28400b3774de02a4a5f245e72f6
        a9dcace96acc58bf636aae162dcc1f63d330887609ae561b691c59aaa03d50c7
        7c0e312404cb51734ba1911ee323bebcff43cfef02e82364c4c037e66e3eb4d6
        468206e1d1ed8221e974bd383fc773a810c0dafb2737a05cc17e9a4fd0758447",
    skeyid: "87975e0b83f00a377fcfea68ae89b3083e58b644",
    skeyid_d: "f7ed7299d0f9936a24025c2993b5542509c70c03",
    skeyid_a: "9d9db11f18fa216b53d08cd93cd46b66ba66dd01",
    skeyid_e: "0b2d6f27ee65ad5d0d4b753427749d23b5c8e668",
    encryption_key: "2226eb04a39f53c780ffdc9e800ca5cd9884bdcd8d4f9085",
    phase1_iv: "8f8c37b94fdae0e1",
    hash_i: "0d45cd4726eb6e3a17221a5a7b5967247540300b",
    hash_r: "76463a386ad08c8fc79ec1d5eff5c33c96d7bd05",
    main5: "e369873c70d3f123acfa02e937da53ac051002010000000000000044e0acbd36
        b05fe063e37dab7ce4ada19bf7724af82d455a3458d8b15f6d6c7710354b5ecf
        4c47fac2",
    main6: "e369873c70d3f123acfa02e937da53ac051002010000000000000044b2b5ca55
        8e53e4be27eecec55fbfcd3971adaf9cd706970c7f1c5e49bfbc7b2ed7332b2e
        2f22c613",
    quick_iv: "447ffb41e10ac7d1",
    quick1: "e369873c70d3f123acfa02e937da53ac08102001892ff8eb000000acb0b8f812
        c4cc58ca5a8e472c51611c005d38e85343534f63e3605720a511e03dc45f2a22
        5d53b76060a9e978a4c2b222b8b57d516b00b770766df104698a01b61abe45a7
        c8e7633a33ccaa6a982cb35246df2eefc1c569bece9dc7ad1d3b4a5642762c5f
        fd2ccdefe418a2ac5615639989b0c1d93f3dc4ad95e25a09b51487d55392c59f
        b407ef7a93b95352db565de8",
    quick2: "e369873c70d3f123acfa02e937da53ac08102001892ff8eb000000ac7bb613ab
        1e2c29a9249b657b06270cab6b2257f68851a5b8dec135b90e6483bd1cf35279
        cacc2ec09976af67f80ee5508c37c75b78c6770011c59a7818a3d309a124457c
        08d32d8555e958aea5c264cd01d87b757d58423dd600f040f4beba735b325083
        d2cd8e72b4cae8f77a056c80f4e9ca1d7c9e4ca9c81c860d667b1bd0b685c296
        eedeb1645ccfc69dd10ebb1e",
    hash1: "6985362944ed4b83a1e5fafc8d0dd88920dcace7",
    hash2: "bf63c1e324e5de3c30eda7987f6c47a2cd81bae2",
    spi_i: 0xcc2a8c74,
    encr_i: "c022a67a898cddc7f2bee4c391a6403885d79357a7c085d8",
    integ_i: "15ee614771dff9108ef0b178ed6daeb7de200485",
    spi_r: 0xc2ce673b,
    encr_r: "4b6cc9465789e686d7c5cb861d921c8eff951298c21e9827",
    integ_r: "23db0721cba9a9c9e8880fc288fac109b1bbcbc5",
    info_iv: "81e392c53699973d",
    info: "e369873c70d3f123acfa02e937da53ac08100501ba1296a70000004c0e1366ca
        0f58df6fde09785f8ca0cb74c0e6af6dbdabed676276a2fd8d7237f432f7399b
        ccf92e71556dce70e2312c2d",
    info_hash: "1be81537aef9c19c4c8c64337b00cc54db08a332",
};

const VECTORS: [&Vector; 3] = [
    &AES128_SHA1_MODP1024,
    &AES256_SHA256_MODP2048,
    &TDES_SHA1_MODP1024,
];

/// One payload of a decrypted chain: its type, the whole payload and its body.
struct Payload<'a> {
    kind: u8,
    whole: &'a [u8],
    body: &'a [u8],
}

/// Walks the payload chain of a decrypted message from `first`, the header's Next Payload;
/// returns the payloads and where the chain ends (the padding follows).
fn payloads(first: u8, plain: &[u8]) -> (Vec<Payload<'_>>, usize) {
    let mut out = Vec::new();
    let (mut kind, mut at) = (first, 0);
    while kind != 0 {
        let len = usize::from(u16::from_be_bytes([plain[at + 2], plain[at + 3]]));
        out.push(Payload {
            kind,
            whole: &plain[at..at + len],
            body: &plain[at + 4..at + len],
        });
        kind = plain[at];
        at += len;
    }
    (out, at)
}

/// Header and ciphertext of a captured message.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    let (header, body) = message.split_at(HEADER);
    assert_eq!(header[19] & 1, 1, "Encryption flag");
    (header, body)
}

fn last_block(ciphertext: &[u8], block: usize) -> &[u8] {
    &ciphertext[ciphertext.len() - block..]
}

/// Decrypts a captured message and checks that encrypting its payloads again gives the
/// same octets (our padding is strongSwan's); returns the header, plaintext and the end
/// of its payload chain.
fn open<'m>(cipher: &Phase1Cipher, iv: &[u8], message: &'m [u8]) -> (&'m [u8], Vec<u8>, usize) {
    let (header, body) = split(message);
    let plain = cipher.decrypt(iv, body).unwrap().to_vec();
    let (_, end) = payloads(header[16], &plain);
    assert_eq!(cipher.encrypt(iv, &plain[..end]), body, "re-encryption");
    (header, plain, end)
}

fn message_id(header: &[u8]) -> u32 {
    u32::from_be_bytes(header[20..24].try_into().unwrap())
}

#[test]
fn phase1_keys_match_strongswan() {
    for v in VECTORS {
        let (h, enc) = (v.hash, v.encryption);
        let skeyid = skeyid_psk(h, PSK, &hex(v.ni_b), &hex(v.nr_b));
        assert_eq!(*skeyid, hex(v.skeyid), "{}", v.proposal);
        let keys = derive_phase1(h, enc, skeyid, &hex(v.g_xy), v.cky_i, v.cky_r);
        assert_eq!(*keys.skeyid_d, hex(v.skeyid_d), "{}", v.proposal);
        assert_eq!(*keys.skeyid_a, hex(v.skeyid_a), "{}", v.proposal);
        assert_eq!(*keys.skeyid_e, hex(v.skeyid_e), "{}", v.proposal);
        assert_eq!(
            *keys.encryption_key,
            hex(v.encryption_key),
            "{}",
            v.proposal
        );
        assert_eq!(
            keys.encryption_key.len(),
            enc.keymat_len(),
            "{}",
            v.proposal
        );
        let iv = phase1_iv(h, enc, &hex(v.g_xi), &hex(v.g_xr));
        assert_eq!(iv, hex(v.phase1_iv), "{}", v.proposal);
    }
}

// 3DES from SHA-1: strongSwan's key is K1 | the first 4 octets of K2 (RFC 2409
// appendix B), not a prefix of SKEYID_e.
#[test]
fn triple_des_key_is_extended_like_strongswan() {
    let v = &TDES_SHA1_MODP1024;
    let skeyid_e = hex(v.skeyid_e);
    let key = hex(v.encryption_key);
    assert_eq!(skeyid_e.len(), 20);
    assert_eq!(key.len(), 24);
    assert_ne!(key[..20], skeyid_e[..]);
    assert_eq!(key[..20], *prf(v.hash, &skeyid_e, &[&[0]]));
}

#[test]
fn main_mode_hashes_match_strongswan() {
    for v in VECTORS {
        let (h, enc) = (v.hash, v.encryption);
        let (g_xi, g_xr, sai_b) = (hex(v.g_xi), hex(v.g_xr), hex(v.sai_b));
        let skeyid = skeyid_psk(h, PSK, &hex(v.ni_b), &hex(v.nr_b));
        let keys = derive_phase1(h, enc, skeyid, &hex(v.g_xy), v.cky_i, v.cky_r);
        let cipher = Phase1Cipher::new(enc, &keys.encryption_key).unwrap();
        assert_eq!(cipher.block_len(), block_len(enc));

        // Message 5: IDii then HASH_I, under the phase 1 IV.
        let main5 = hex(v.main5);
        let iv = phase1_iv(h, enc, &g_xi, &g_xr);
        let (header, plain, _) = open(&cipher, &iv, &main5);
        let (list, _) = payloads(header[16], &plain);
        assert_eq!((list[0].kind, list[1].kind), (ID, HASH), "{}", v.proposal);
        let computed = hash_i(
            h,
            &keys.skeyid,
            &g_xi,
            &g_xr,
            v.cky_i,
            v.cky_r,
            &sai_b,
            list[0].body,
        );
        assert_eq!(computed, list[1].body, "{}", v.proposal);
        assert_eq!(computed, hex(v.hash_i), "{}", v.proposal);

        // Message 6: IDir then HASH_R, the IV chained from message 5's last block.
        let main6 = hex(v.main6);
        let iv = last_block(split(&main5).1, cipher.block_len()).to_vec();
        let (header, plain, _) = open(&cipher, &iv, &main6);
        let (list, _) = payloads(header[16], &plain);
        assert_eq!((list[0].kind, list[1].kind), (ID, HASH), "{}", v.proposal);
        let computed = hash_r(
            h,
            &keys.skeyid,
            &g_xi,
            &g_xr,
            v.cky_i,
            v.cky_r,
            &sai_b,
            list[0].body,
        );
        assert_eq!(computed, list[1].body, "{}", v.proposal);
        assert_eq!(computed, hex(v.hash_r), "{}", v.proposal);
        // A different identity does not verify.
        let other = hash_r(
            h,
            &keys.skeyid,
            &g_xi,
            &g_xr,
            v.cky_i,
            v.cky_r,
            &sai_b,
            b"x",
        );
        assert_ne!(other, computed);
    }
}

#[test]
fn quick_mode_and_keymat_match_strongswan() {
    for v in VECTORS {
        let (h, enc) = (v.hash, v.encryption);
        let skeyid = skeyid_psk(h, PSK, &hex(v.ni_b), &hex(v.nr_b));
        let keys = derive_phase1(h, enc, skeyid, &hex(v.g_xy), v.cky_i, v.cky_r);
        let cipher = Phase1Cipher::new(enc, &keys.encryption_key).unwrap();
        let block = cipher.block_len();
        let main6 = hex(v.main6);
        let phase1_last = last_block(split(&main6).1, block).to_vec();

        // Message 1: HASH(1) | SA | Ni | IDci | IDcr, under the exchange's own IV.
        let quick1 = hex(v.quick1);
        let mid = message_id(split(&quick1).0);
        let iv = exchange_iv(h, enc, &phase1_last, mid);
        assert_eq!(iv, hex(v.quick_iv), "{}", v.proposal);
        let (header, plain, end) = open(&cipher, &iv, &quick1);
        let (list, _) = payloads(header[16], &plain);
        assert_eq!(list[0].kind, HASH);
        let rest = &plain[list[0].whole.len()..end];
        let computed = quick_hash1(h, &keys.skeyid_a, mid, rest);
        assert_eq!(computed, list[0].body, "{}", v.proposal);
        assert_eq!(computed, hex(v.hash1), "{}", v.proposal);
        let ni_b = list.iter().find(|p| p.kind == NONCE).unwrap().body.to_vec();

        // Message 2: HASH(2) | SA | Nr | IDci | IDcr, the IV chained from message 1.
        let quick2 = hex(v.quick2);
        let iv = last_block(split(&quick1).1, block).to_vec();
        let (header, plain, end) = open(&cipher, &iv, &quick2);
        assert_eq!(message_id(header), mid);
        let (list, _) = payloads(header[16], &plain);
        assert_eq!(list[0].kind, HASH);
        let rest = &plain[list[0].whole.len()..end];
        let computed = quick_hash2(h, &keys.skeyid_a, mid, &ni_b, rest);
        assert_eq!(computed, list[0].body, "{}", v.proposal);
        assert_eq!(computed, hex(v.hash2), "{}", v.proposal);
        let nr_b = list.iter().find(|p| p.kind == NONCE).unwrap().body.to_vec();

        // KEYMAT of each direction: encryption key, then integrity key.
        for (spi, encr, integ) in [
            (v.spi_i, v.encr_i, v.integ_i),
            (v.spi_r, v.encr_r, v.integ_r),
        ] {
            let (encr, integ) = (hex(encr), hex(integ));
            let len = encr.len() + integ.len();
            let km = keymat(h, &keys.skeyid_d, None, PROTO_ESP, spi, &ni_b, &nr_b, len);
            assert_eq!(km[..encr.len()], encr[..], "{} SPI {spi:08x}", v.proposal);
            assert_eq!(km[encr.len()..], integ[..], "{} SPI {spi:08x}", v.proposal);
        }
    }
}

#[test]
fn informational_matches_strongswan() {
    for v in VECTORS {
        let (h, enc) = (v.hash, v.encryption);
        let skeyid = skeyid_psk(h, PSK, &hex(v.ni_b), &hex(v.nr_b));
        let keys = derive_phase1(h, enc, skeyid, &hex(v.g_xy), v.cky_i, v.cky_r);
        let cipher = Phase1Cipher::new(enc, &keys.encryption_key).unwrap();
        let main6 = hex(v.main6);
        let phase1_last = last_block(split(&main6).1, cipher.block_len()).to_vec();

        let info = hex(v.info);
        let mid = message_id(split(&info).0);
        let iv = exchange_iv(h, enc, &phase1_last, mid);
        assert_eq!(iv, hex(v.info_iv), "{}", v.proposal);
        let (header, plain, end) = open(&cipher, &iv, &info);
        let (list, _) = payloads(header[16], &plain);
        assert_eq!(list[0].kind, HASH);
        let rest = &plain[list[0].whole.len()..end];
        let computed = informational_hash(h, &keys.skeyid_a, mid, rest);
        assert_eq!(computed, list[0].body, "{}", v.proposal);
        assert_eq!(computed, hex(v.info_hash), "{}", v.proposal);
    }
}
